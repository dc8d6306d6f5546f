package boltgate.ocsp;

import java.io.File;
import java.util.concurrent.TimeUnit;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Config;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Logging;

/**
 * Connects the official Java driver to {@code bolt://HOST:PORT} with encryption on, trusting
 * only the CA in {@code CA_FILE}, with the driver's own revocation setting, and runs
 * {@code RETURN 1}. Prints one JSON line: {"ok":true,"value":1} or
 * {"ok":false,"error":"<exception class>","chain":"<every cause's class: message>"}.
 *
 * <p>Usage: {@code java -jar java-ocsp.jar URI CA_FILE none|if-present|strict}
 *
 * <p>Why the plain {@code bolt://} scheme: the {@code +s} schemes fix the trust strategy (system
 * roots, no revocation checks); the revocation setting exists only with a configured trust
 * strategy.
 */
public final class Probe {
    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: Probe URI CA_FILE none|if-present|strict");
            System.exit(2);
        }
        Config.TrustStrategy trust = Config.TrustStrategy.trustCustomCertificateSignedBy(new File(args[1]));
        trust = switch (args[2]) {
            case "none" -> trust.withoutCertificateRevocationChecks();
            case "if-present" -> trust.withVerifyIfPresentRevocationChecks();
            case "strict" -> trust.withStrictRevocationChecks();
            default -> throw new IllegalArgumentException("revocation mode: none, if-present or strict");
        };
        Config config = Config.builder()
                .withEncryption()
                .withTrustStrategy(trust)
                .withConnectionTimeout(10, TimeUnit.SECONDS)
                .withMaxTransactionRetryTime(0, TimeUnit.SECONDS)
                .withLogging(Logging.none())
                .build();
        try (var driver = GraphDatabase.driver(args[0], AuthTokens.none(), config);
                var session = driver.session()) {
            long value = session.run("RETURN 1 AS n").single().get("n").asLong();
            System.out.println("{\"ok\":true,\"value\":" + value + "}");
        } catch (Exception e) {
            StringBuilder chain = new StringBuilder();
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (chain.length() > 0) {
                    chain.append(" <- ");
                }
                chain.append(t.getClass().getName()).append(": ").append(t.getMessage());
            }
            System.out.println("{\"ok\":false,\"error\":\"" + json(e.getClass().getName())
                    + "\",\"chain\":\"" + json(chain.toString()) + "\"}");
        }
    }

    private static String json(String s) {
        StringBuilder out = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.toString();
    }
}
