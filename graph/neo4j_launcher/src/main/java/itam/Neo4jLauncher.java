package itam;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

/**
 * Runs Neo4j Community embedded with only the Bolt connector, on loopback.
 *
 * Usage: ITAM_NEO4J_PASSWORD_FILE=FILE Neo4jLauncher DATA_DIR PORT [PAGECACHE_MB] [HOST]
 * Authentication is on: the password of user neo4j is set from FILE at every start (the file is
 * named in the environment, so the password never shows in the process list). LOAD CSV may not
 * read file URLs, and its import folder is an empty directory of its own.
 * Prints "READY bolt://HOST:PORT" when the database answers, and shuts down
 * cleanly on SIGTERM (the JVM runs shutdown hooks on SIGTERM, not on SIGKILL).
 */
public final class Neo4jLauncher {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Neo4jLauncher DATA_DIR PORT [PAGECACHE_MB] [HOST]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        long pageCacheMb = args.length > 2 ? Long.parseLong(args[2]) : 256;
        String host = args.length > 3 ? args[3] : "127.0.0.1";
        Files.createDirectories(home);
        String password = readPassword(System.getenv("ITAM_NEO4J_PASSWORD_FILE"));
        Path emptyImport = Files.createDirectories(home.resolve("import-none"));

        DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress(host, port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                // The driver times a connection out after keep-alive x probes without a message; a large
                // ingest's commit sends none, so allow it minutes rather than Neo4j's default two.
                .setConfig(BoltConnector.connection_keep_alive, Duration.ofMinutes(10))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.allow_file_urls, false)
                .setConfig(GraphDatabaseSettings.load_csv_file_url_root, emptyImport)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pageCacheMb))
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "2 files")
                .setConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofMinutes(30))
                // An ingest run is one transaction (all or nothing): the heap bounds it, not 70% of it.
                .setConfig(GraphDatabaseSettings.memory_transaction_global_max_size, 0L)
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.shutdown();
            stopped.countDown();
        }, "neo4j-shutdown"));

        setPassword(service, password);
        service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        System.out.println("READY bolt://" + host + ":" + port);
        System.out.flush();
        stopped.await();
    }

    private static String readPassword(String file) throws Exception {
        if (file == null || file.isBlank()) {
            System.err.println("ITAM_NEO4J_PASSWORD_FILE must name the file holding the neo4j password");
            System.exit(2);
        }
        String password = Files.readString(Path.of(file)).strip();
        if (password.length() < 16) {
            System.err.println(file + ": the neo4j password needs at least 16 characters");
            System.exit(2);
        }
        return password;
    }

    /** Embedded transactions on the system database run with full rights, so no login is needed here. */
    private static void setPassword(DatabaseManagementService service, String password) {
        try {
            service.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                    "ALTER USER neo4j SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (RuntimeException exc) {
            // Every start after the first: the password is already this one.
            if (!String.valueOf(exc.getMessage()).contains("cannot be the same")) {
                throw exc;
            }
        }
    }
}
