package boltgate.drivers;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.neo4j.driver.AuthTokens;
import org.neo4j.driver.Config;
import org.neo4j.driver.Driver;
import org.neo4j.driver.GraphDatabase;
import org.neo4j.driver.Logging;
import org.neo4j.driver.Session;
import org.neo4j.driver.exceptions.Neo4jException;

/**
 * The runner's {@code pool} mode: many clients at once through a transaction-pooling boltgate
 * (tests/pool_drivers.rs), the Java twin of tests/py/pool_clients.py.
 *
 * <pre>java -jar runner.jar pool URI CLIENTS ROUNDS synthetic|falkordb</pre>
 *
 * <p>A thread per client, each with its own Driver whose pool holds one connection, so each
 * client is one connection to boltgate. Every client connects first; then all start together.
 * Client c, round i: against the synthetic server a write transaction {@code RETURN c*1000+i}
 * and a read transaction {@code RETURN c*1000+500+i}, each checked for its own value (the
 * server's record shows which writes it committed); against FalkorDB a write transaction
 * creating {@code (:PoolW {client: c, i: i})} and a read transaction counting the client's
 * nodes, which must see all its writes so far. Prints {@code {"driver", "clients", "writes",
 * "reads", "errors": [...]}} and exits 0 (the Rust test checks the counts and the errors).
 */
final class PoolClients {
    private final String uri;
    private final int rounds;
    private final boolean synthetic;
    private final AtomicLong writes = new AtomicLong();
    private final AtomicLong reads = new AtomicLong();
    private final List<String> errors = Collections.synchronizedList(new ArrayList<>());
    private final CountDownLatch connected;
    private final CountDownLatch go = new CountDownLatch(1);

    private PoolClients(String uri, int clients, int rounds, boolean synthetic) {
        this.uri = uri;
        this.rounds = rounds;
        this.synthetic = synthetic;
        this.connected = new CountDownLatch(clients);
    }

    /** One client: its own driver, connected, then its rounds once every client is connected. */
    private void client(int c) {
        boolean counted = false;
        Config config = Config.builder()
                .withMaxConnectionPoolSize(1)
                // One event loop thread per driver: 200 drivers in one JVM.
                .withEventLoopThreads(1)
                .withConnectionTimeout(30, TimeUnit.SECONDS)
                // No retry: a failed transaction must show, not be run twice.
                .withMaxTransactionRetryTime(0, TimeUnit.SECONDS)
                .withLogging(Logging.none())
                .build();
        try (Driver driver = GraphDatabase.driver(uri, AuthTokens.none(), config)) {
            driver.verifyConnectivity();
            connected.countDown();
            counted = true;
            if (!go.await(120, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the other clients did not connect in time");
            }
            try (Session s = driver.session()) {
                for (int i = 0; i < rounds; i++) {
                    round(s, c, i);
                }
            }
        } catch (Exception e) {
            String code = e instanceof Neo4jException n ? n.code() + ": " : "";
            errors.add("client " + c + ": " + e.getClass().getSimpleName() + ": " + code + e.getMessage());
        } finally {
            if (!counted) {
                connected.countDown();
            }
        }
    }

    private void round(Session s, int c, int i) {
        if (synthetic) {
            long w = c * 1000L + i;
            long got = s.executeWrite(tx -> tx.run("RETURN " + w).single().get(0).asLong());
            if (got != w) {
                throw new IllegalStateException("write " + w + " returned " + got);
            }
            writes.incrementAndGet();
            long r = c * 1000L + 500 + i;
            long read = s.executeRead(tx -> tx.run("RETURN " + r).single().get(0).asLong());
            if (read != r) {
                throw new IllegalStateException("read " + r + " returned " + read);
            }
            reads.incrementAndGet();
        } else {
            s.executeWriteWithoutResult(tx -> tx.run("CREATE (:PoolW {client: $c, i: $i})",
                    Map.of("c", (long) c, "i", (long) i)).consume());
            writes.incrementAndGet();
            long n = s.executeRead(tx -> tx.run("MATCH (n:PoolW {client: $c}) RETURN count(n)",
                    Map.of("c", (long) c)).single().get(0).asLong());
            if (n != i + 1) {
                throw new IllegalStateException("client " + c + " round " + i + " sees " + n + " of its writes");
            }
            reads.incrementAndGet();
        }
    }

    static void main(String[] args) throws Exception {
        if (args.length != 5 || !(args[4].equals("synthetic") || args[4].equals("falkordb"))) {
            System.err.println("usage: java -jar runner.jar pool URI CLIENTS ROUNDS synthetic|falkordb");
            System.exit(2);
        }
        int clients = Integer.parseInt(args[2]);
        PoolClients p = new PoolClients(args[1], clients, Integer.parseInt(args[3]), args[4].equals("synthetic"));
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            Thread t = new Thread(() -> p.client(client), "client-" + c);
            t.start();
            threads.add(t);
        }
        if (!p.connected.await(120, TimeUnit.SECONDS)) {
            p.errors.add("not every client connected within 120 s");
        }
        p.go.countDown();
        for (Thread t : threads) {
            t.join();
        }
        List<String> errors;
        synchronized (p.errors) {
            errors = new ArrayList<>(p.errors.subList(0, Math.min(10, p.errors.size())));
            if (p.errors.size() > 10) {
                errors.add("(and " + (p.errors.size() - 10) + " more)");
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("driver", "java");
        out.put("clients", clients);
        out.put("writes", p.writes.get());
        out.put("reads", p.reads.get());
        out.put("errors", errors);
        StringBuilder sb = new StringBuilder();
        Json.write(sb, out);
        System.out.write((sb + "\n").getBytes(StandardCharsets.UTF_8));
        System.out.flush();
    }
}
