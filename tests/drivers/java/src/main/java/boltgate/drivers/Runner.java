package boltgate.drivers;

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.neo4j.driver.AccessMode;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Bookmark;
import org.neo4j.driver.Config;
import org.neo4j.driver.Driver;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Logging;
import org.neo4j.driver.Record;
import org.neo4j.driver.Result;
import org.neo4j.driver.Session;
import org.neo4j.driver.SessionConfig;
import org.neo4j.driver.exceptions.Neo4jException;
import org.neo4j.driver.summary.ResultSummary;
import org.neo4j.driver.types.IsoDuration;
import org.neo4j.driver.types.Node;
import org.neo4j.driver.types.Path;
import org.neo4j.driver.types.Point;
import org.neo4j.driver.types.Relationship;

/**
 * Scenario runner for the official Java driver. See tests/drivers/README.md.
 *
 * <pre>java -jar runner.jar URI USER PASSWORD CA SCENARIOS</pre>
 *
 * <p>{@code java -jar runner.jar pool ...} runs many clients at once instead ({@link PoolClients}).
 *
 * For +s schemes the driver checks the server against the JVM's default trust store (the driver
 * refuses a custom trust strategy with a +s scheme), so a given CA is put into a PKCS#12 trust
 * store named by javax.net.ssl.trustStore, the way a Java user trusts a private CA.
 */
public final class Runner {
    static final String SETUP = """
            OPTIONAL MATCH (x:BgProbe) WITH count(x) AS existing WHERE existing = 0
            CREATE (a:BgProbe {name: 'a', list: [1, 2, 3], score: 1.5, day: date('2024-02-29')}),
                   (b:BgProbe:BgTarget {name: 'b'}),
                   (c:BgProbe {name: 'c'}),
                   (a)-[:BG_LINK {since: 2020, weight: 0.5}]->(b),
                   (c)-[:BG_LINK {since: 2021}]->(b)
            """;

    static final String TYPES = """
            MATCH p = (a:BgProbe {name: 'a'})-[r:BG_LINK]->(:BgProbe {name: 'b'})<-[:BG_LINK]-(:BgProbe {name: 'c'})
            RETURN a AS node, r AS relationship, p AS path,
              null AS null_value, true AS boolean,
              -9223372036854775807 - 1 AS int_min, 9223372036854775807 AS int_max,
              1.5 AS float, 1.7976931348623157e308 AS float_max, -0.0 AS float_negative_zero,
              'grüß 🙂' AS string, [1, 'two', [3.0], {four: 4}] AS list,
              date('2024-02-29') AS date,
              localtime('12:34:56.123456789') AS local_time,
              time('12:34:56.123456789+01:30') AS time,
              localdatetime('2024-02-29T12:34:56.123456789') AS local_datetime,
              datetime('2024-02-29T12:34:56.123456789[Europe/Stockholm]') AS datetime_zone_id,
              datetime('2024-07-01T12:34:56.123456789[Europe/Stockholm]') AS datetime_zone_id_summer,
              datetime('2024-02-29T12:34:56.123456789-05:30') AS datetime_offset,
              datetime('2024-02-29T12:34:56.123456789Z') AS datetime_utc,
              duration({months: 14, days: 3, seconds: 45296, nanoseconds: 789}) AS duration,
              point({x: 1.5, y: -2.25}) AS point_2d,
              point({x: 1.5, y: -2.25, z: 3.0}) AS point_3d,
              point({longitude: 18.07, latitude: 59.33}) AS point_wgs84_2d,
              point({longitude: 18.07, latitude: 59.33, height: 28.0}) AS point_wgs84_3d,
              $bytes AS bytes, $large_map AS large_map
            """;

    private final Driver driver;
    private final String token = UUID.randomUUID().toString();

    private Runner(Driver driver) {
        this.driver = driver;
    }

    /** The same parameters in every runner: 70,000 bytes and a map of 2,000 mixed entries. */
    static Map<String, Object> typesParams() {
        byte[] bytes = new byte[70000];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) ((i * 7 + 3) % 256);
        }
        Map<String, Object> large = new LinkedHashMap<>();
        for (int i = 0; i < 2000; i++) {
            String k = String.format("k%04d", i);
            switch (i % 5) {
                case 0 -> large.put(k, (long) i);
                case 1 -> large.put(k, "v" + i);
                case 2 -> large.put(k, i + 0.5);
                case 3 -> large.put(k, List.of((long) i, "x"));
                default -> large.put(k, Map.of("i", (long) i));
            }
        }
        return Map.of("bytes", bytes, "large_map", large);
    }

    static Map<String, Object> fl(double d) {
        return Map.of("float", String.format("%016x", Double.doubleToRawLongBits(d)));
    }

    static String hms(int h, int m, int s, int ns) {
        return String.format("%02d:%02d:%02d.%09d", h, m, s, ns);
    }

    static String ymd(int y, int m, int d) {
        return String.format("%04d-%02d-%02d", y, m, d);
    }

    static Object canon(Object v) throws Exception {
        if (v == null || v instanceof Boolean || v instanceof String) {
            return v;
        }
        if (v instanceof Long || v instanceof Integer) {
            return Map.of("int", v.toString());
        }
        if (v instanceof Double d) {
            return fl(d);
        }
        if (v instanceof byte[] b) {
            String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
            return Map.of("bytes", Map.of("len", b.length, "sha256", sha));
        }
        if (v instanceof Node n) {
            List<String> labels = new ArrayList<>();
            n.labels().forEach(labels::add);
            labels.sort(null);
            return Map.of("node", Map.of("element_id", n.elementId(), "labels", labels, "props", canon(n.asMap())));
        }
        if (v instanceof Relationship r) {
            return Map.of("relationship", Map.of(
                    "element_id", r.elementId(), "type", r.type(),
                    "start", r.startNodeElementId(), "end", r.endNodeElementId(),
                    "props", canon(r.asMap())));
        }
        if (v instanceof Path p) {
            List<Object> nodes = new ArrayList<>();
            for (Node n : p.nodes()) {
                nodes.add(canon(n));
            }
            List<Object> rels = new ArrayList<>();
            for (Relationship r : p.relationships()) {
                rels.add(canon(r));
            }
            return Map.of("path", Map.of("nodes", nodes, "relationships", rels));
        }
        if (v instanceof ZonedDateTime z) {
            String text = ymd(z.getYear(), z.getMonthValue(), z.getDayOfMonth()) + "T"
                    + hms(z.getHour(), z.getMinute(), z.getSecond(), z.getNano());
            Map<String, Object> m = new TreeMap<>();
            m.put("datetime", text);
            m.put("offset_seconds", z.getOffset().getTotalSeconds());
            m.put("zone", z.getZone() instanceof ZoneOffset ? null : z.getZone().getId());
            return m;
        }
        if (v instanceof LocalDateTime l) {
            return Map.of("local_datetime", ymd(l.getYear(), l.getMonthValue(), l.getDayOfMonth()) + "T"
                    + hms(l.getHour(), l.getMinute(), l.getSecond(), l.getNano()));
        }
        if (v instanceof LocalDate d) {
            return Map.of("date", ymd(d.getYear(), d.getMonthValue(), d.getDayOfMonth()));
        }
        if (v instanceof OffsetTime t) {
            return Map.of("time", hms(t.getHour(), t.getMinute(), t.getSecond(), t.getNano()),
                    "offset_seconds", t.getOffset().getTotalSeconds());
        }
        if (v instanceof LocalTime t) {
            return Map.of("local_time", hms(t.getHour(), t.getMinute(), t.getSecond(), t.getNano()));
        }
        if (v instanceof IsoDuration d) {
            return Map.of("duration", Map.of("months", d.months(), "days", d.days(),
                    "seconds", d.seconds(), "nanoseconds", d.nanoseconds()));
        }
        if (v instanceof Point p) {
            Map<String, Object> m = new TreeMap<>();
            m.put("srid", p.srid());
            m.put("x", fl(p.x()));
            m.put("y", fl(p.y()));
            if (!Double.isNaN(p.z())) {
                m.put("z", fl(p.z()));
            }
            return Map.of("point", m);
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>();
            for (Object x : l) {
                out.add(canon(x));
            }
            return out;
        }
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new TreeMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                out.put((String) e.getKey(), canon(e.getValue()));
            }
            return out;
        }
        throw new IllegalArgumentException("no canonical form for " + v.getClass() + ": " + v);
    }

    Object info() {
        try (Session s = driver.session()) {
            ResultSummary summary = s.run("RETURN 1").consume();
            return Map.of("agent", summary.server().agent(), "protocol", summary.server().protocolVersion());
        }
    }

    Object write_tx() {
        try (Session s = driver.session()) {
            Object[] out = s.executeWrite(tx -> {
                Result r = tx.run("CREATE (n:BgWrite {token: $t}) RETURN n.token AS t", Map.of("t", token));
                String t = r.single().get("t").asString();
                return new Object[] {t, r.consume().counters().nodesCreated()};
            });
            return Map.of("returned_token", token.equals(out[0]), "nodes_created", out[1]);
        }
    }

    Object read_tx() {
        try (Session s = driver.session()) {
            long c = s.executeRead(tx -> tx.run("MATCH (n:BgWrite {token: $t}) RETURN count(n) AS c", Map.of("t", token))
                    .single().get("c").asLong());
            return Map.of("count", c);
        }
    }

    Object auto_commit() {
        try (Session s = driver.session()) {
            return Map.of("y", s.run("RETURN $x * 2 AS y", Map.of("x", 21L)).single().get("y").asLong());
        }
    }

    Object bookmarks() {
        String t = UUID.randomUUID().toString();
        Set<Bookmark> bms;
        try (Session s = driver.session()) {
            s.executeWriteWithoutResult(tx -> tx.run("CREATE (:BgBookmark {token: $t})", Map.of("t", t)).consume());
            bms = s.lastBookmarks();
        }
        try (Session s = driver.session(SessionConfig.builder().withBookmarks(bms).build())) {
            long c = s.executeRead(tx -> tx.run("MATCH (n:BgBookmark {token: $t}) RETURN count(n) AS c", Map.of("t", t))
                    .single().get("c").asLong());
            return Map.of("bookmarks", bms.size(), "count", c);
        }
    }

    Object cypher_error() {
        try (Session s = driver.session()) {
            String code = null;
            try {
                s.run("RETURN 1 +").consume();
            } catch (Neo4jException e) {
                code = e.code();
            }
            long after = s.run("RETURN 7 AS x").single().get("x").asLong();
            Map<String, Object> m = new TreeMap<>();
            m.put("code", code);
            m.put("after", after);
            return m;
        }
    }

    Object rows_100k() {
        try (Session s = driver.session()) {
            Result r = s.run("UNWIND range(1, 100000) AS i RETURN i, 'row-' + toString(i) AS s");
            long rows = 0;
            long sum = 0;
            while (r.hasNext()) {
                Record rec = r.next();
                rows++;
                sum += rec.get(0).asLong();
            }
            return Map.of("rows", rows, "sum", Long.toString(sum));
        }
    }

    Object types() throws Exception {
        try (Session s = driver.session()) {
            Record rec = s.run(TYPES, typesParams()).single();
            Map<String, Object> out = new TreeMap<>();
            for (String k : rec.keys()) {
                out.put(k, canon(rec.get(k).asObject()));
            }
            return out;
        }
    }

    Object setup() {
        try (Session s = driver.session()) {
            return Map.of("nodes_created", s.run(SETUP).consume().counters().nodesCreated());
        }
    }

    /** tests/py/routing.py's work: 3 write transactions, then 8 reads chained on their bookmarks. */
    Object routing() {
        Set<Bookmark> bms;
        long writes = 0;
        long reads = 0;
        try (Session s = driver.session()) {
            for (int i = 0; i < 3; i++) {
                writes += s.executeWrite(tx -> tx.run("RETURN 1").single().get(0).asLong());
            }
            bms = s.lastBookmarks();
        }
        try (Session s = driver.session(SessionConfig.builder()
                .withBookmarks(bms)
                .withDefaultAccessMode(AccessMode.READ)
                .build())) {
            for (int i = 0; i < 8; i++) {
                reads += s.executeRead(tx -> tx.run("RETURN 2").single().get(0).asLong()) / 2;
            }
        }
        List<String> raw = new ArrayList<>();
        for (Bookmark b : bms) {
            raw.add(b.value());
        }
        java.util.Collections.sort(raw);
        return Map.of("writes", writes, "reads", reads, "bookmarks", raw);
    }

    /** RETURN 1, then CRASH (the scripted server stops on it): what the driver reports. */
    Object crash() {
        try (Session s = driver.session()) {
            long first = s.run("RETURN 1").single().get(0).asLong();
            Map<String, Object> m = new TreeMap<>();
            m.put("first", first);
            try {
                s.run("CRASH").consume();
                m.put("error_class", null);
            } catch (Exception e) {
                m.put("error_class", e.getClass().getSimpleName());
                m.put("code", e instanceof Neo4jException n ? n.code() : null);
            }
            return m;
        }
    }

    Object run(String name) throws Exception {
        return switch (name) {
            case "info" -> info();
            case "write_tx" -> write_tx();
            case "read_tx" -> read_tx();
            case "auto_commit" -> auto_commit();
            case "bookmarks" -> bookmarks();
            case "cypher_error" -> cypher_error();
            case "rows_100k" -> rows_100k();
            case "types" -> types();
            case "setup" -> setup();
            case "routing" -> routing();
            case "crash" -> crash();
            default -> throw new IllegalArgumentException("unknown scenario " + name);
        };
    }

    /** A PKCS#12 trust store holding `caPem`, named as the JVM's default trust store. */
    static void trustAsSystemRoot(String caPem) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        int i = 0;
        for (var cert : cf.generateCertificates(new ByteArrayInputStream(Files.readAllBytes(java.nio.file.Path.of(caPem))))) {
            ks.setCertificateEntry("ca" + i++, (X509Certificate) cert);
        }
        java.nio.file.Path store = Files.createTempFile("runner-truststore", ".p12");
        store.toFile().deleteOnExit();
        try (OutputStream out = Files.newOutputStream(store)) {
            ks.store(out, "changeit".toCharArray());
        }
        System.setProperty("javax.net.ssl.trustStore", store.toString());
        System.setProperty("javax.net.ssl.trustStorePassword", "changeit");
        System.setProperty("javax.net.ssl.trustStoreType", "PKCS12");
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("pool")) {
            PoolClients.main(args);
            return;
        }
        if (args.length != 5) {
            System.err.println("usage: java -jar runner.jar URI USER PASSWORD CA SCENARIOS");
            System.exit(2);
        }
        if (!args[3].equals("-")) {
            trustAsSystemRoot(args[3]);
        }
        Driver driver;
        try {
            driver = GraphDatabase.driver(args[0], AuthTokens.basic(args[1], args[2]), Config.builder()
                    .withConnectionTimeout(15, TimeUnit.SECONDS)
                    .withMaxTransactionRetryTime(5, TimeUnit.SECONDS)
                    .withLogging(Logging.none())
                    .build());
        } catch (RuntimeException e) {
            System.err.println("cannot create the driver: " + e);
            System.exit(1);
            return;
        }
        Runner runner = new Runner(driver);
        Map<String, Object> results = new LinkedHashMap<>();
        for (String name : args[4].split(",")) {
            try {
                results.put(name, runner.run(name));
            } catch (Exception e) {
                String code = e instanceof Neo4jException n ? n.code() + ": " : "";
                results.put(name, Map.of("error", e.getClass().getSimpleName() + ": " + code + e.getMessage()));
            }
        }
        driver.close();
        String version = GraphDatabase.class.getPackage().getImplementationVersion();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("driver", "java");
        out.put("driver_version", version == null ? "unknown" : version);
        out.put("results", results);
        StringBuilder sb = new StringBuilder();
        Json.write(sb, out);
        System.out.write((sb + "\n").getBytes(StandardCharsets.UTF_8));
        System.out.flush();
    }
}
