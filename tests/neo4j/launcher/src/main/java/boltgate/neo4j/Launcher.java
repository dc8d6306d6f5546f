package boltgate.neo4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.connectors.ConnectorPortRegister;
import org.neo4j.configuration.connectors.ConnectorType;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilderImplementation;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.internal.helpers.HostnamePort;
import org.neo4j.kernel.internal.GraphDatabaseAPI;

/**
 * Starts a Neo4j Community DBMS, embedded, with its Bolt connector on loopback, for boltgate's
 * tests. The Bolt server is Neo4j's own (the product's code), so what a driver sees here is
 * what it sees from a neo4j server installation with the same settings.
 *
 * <pre>
 * java -jar neo4j-launcher.jar --home DIR [--port N] [--password PW] [--conf FILE]... [key=value]...
 * </pre>
 *
 * Settings are neo4j.conf lines: each --conf file is read by Neo4j's own parser, then each
 * key=value argument is applied on top (raw, as a neo4j.conf line would be), so real setting
 * names such as server.bolt.tls_level and dbms.ssl.policy.bolt.* are validated by Neo4j itself.
 * When ready it prints one line to stdout:
 *
 * <pre>
 * READY port=PORT version=VERSION edition=EDITION
 * </pre>
 *
 * and stops cleanly (Neo4j's shutdown, then exit) on SIGTERM. Startup errors go to stderr and
 * exit with status 1; bad arguments exit with status 2.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws Exception {
        Path home = null;
        String port = "0";
        String password = null;
        List<Path> confs = new ArrayList<>();
        Map<String, String> raw = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--home" -> home = Path.of(value(args, ++i, a));
                case "--port" -> port = value(args, ++i, a);
                case "--password" -> password = value(args, ++i, a);
                case "--conf" -> confs.add(Path.of(value(args, ++i, a)));
                default -> {
                    int eq = a.indexOf('=');
                    if (eq <= 0) {
                        usage("not a --option nor a key=value setting: " + a);
                    }
                    raw.put(a.substring(0, eq).trim(), a.substring(eq + 1).trim());
                }
            }
        }
        if (home == null) {
            usage("--home DIR is required (Neo4j keeps its data, logs and certificates there)");
        }
        Files.createDirectories(home);

        // Loopback only, no HTTP, a small page cache: a test server next to other test servers.
        // The advertised address is what ROUTE answers carry, so it must name the real port.
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("server.bolt.enabled", "true");
        settings.put("server.bolt.listen_address", "127.0.0.1:" + port);
        settings.put("server.bolt.advertised_address", "127.0.0.1:" + port);
        settings.put("server.http.enabled", "false");
        settings.put("server.https.enabled", "false");
        settings.put("server.memory.pagecache.size", "64m");
        settings.put("dbms.usage_report.enabled", "false");
        settings.put("dbms.security.auth_enabled", password == null ? "false" : "true");
        settings.putAll(raw);

        DatabaseManagementServiceBuilderImplementation builder =
                new DatabaseManagementServiceBuilderImplementation(home);
        for (Path conf : confs) {
            if (!Files.isReadable(conf)) {
                usage("cannot read --conf " + conf);
            }
            builder.loadPropertiesFromFile(conf);
        }
        builder.setConfigRaw(settings);

        DatabaseManagementService dbms;
        try {
            dbms = builder.build();
        } catch (RuntimeException e) {
            System.err.println("neo4j did not start: " + e);
            for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
                System.err.println("  caused by: " + c);
            }
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            dbms.shutdown();
            stopped.countDown();
        }, "neo4j-shutdown"));

        GraphDatabaseService system = dbms.database("system");
        if (password != null) {
            // What `neo4j-admin dbms set-initial-password` does, through the system database.
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
        }
        String[] component = system.executeTransactionally(
                "CALL dbms.components() YIELD versions, edition RETURN versions[0] AS v, edition AS e",
                Map.of(),
                r -> {
                    Map<String, Object> row = r.next();
                    return new String[] {String.valueOf(row.get("v")), String.valueOf(row.get("e"))};
                });
        HostnamePort bolt = ((GraphDatabaseAPI) system)
                .getDependencyResolver()
                .resolveDependency(ConnectorPortRegister.class)
                .getLocalAddress(ConnectorType.BOLT);
        System.out.println("READY port=" + bolt.getPort() + " version=" + component[0] + " edition=" + component[1]);
        System.out.flush();
        stopped.await();
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            usage(option + " needs a value");
        }
        return args[i];
    }

    private static void usage(String problem) {
        System.err.println("neo4j-launcher: " + problem);
        System.err.println(
                "usage: java -jar neo4j-launcher.jar --home DIR [--port N] [--password PW] [--conf FILE]... [key=value]...");
        System.exit(2);
    }
}
