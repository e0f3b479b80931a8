package dev.kstreams.conformance;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;

/**
 * The Kafka Streams side of kstreams' differential conformance suite (test infrastructure
 * only; see conformance/README.md).
 *
 * <pre>
 * java -cp target/classes:CLASSPATH dev.kstreams.conformance.Main \
 *     --bootstrap HOST:PORT --run RUN_ID --topologies all|name,name,... --state-dir DIR
 * </pre>
 *
 * Starts one KafkaStreams per topology, all in this JVM at once. Stdout carries only
 * {@code RUNNING <topology>} (once, when an instance first reaches RUNNING) and
 * {@code ERROR <topology> <message>} (when one goes to ERROR); logs go to stderr. SIGTERM
 * closes every instance (30 s each, in parallel) and exits.
 */
public final class Main {
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

    private Main() {
    }

    public static void main(final String[] args) throws InterruptedException {
        String bootstrap = null;
        String run = null;
        String topologies = null;
        String stateDir = null;
        for (int i = 0; i < args.length; i++) {
            final String arg = args[i];
            if (i + 1 >= args.length) {
                usage("missing value for " + arg);
            }
            final String value = args[++i];
            switch (arg) {
                case "--bootstrap" -> bootstrap = value;
                case "--run" -> run = value;
                case "--topologies" -> topologies = value;
                case "--state-dir" -> stateDir = value;
                default -> usage("unknown argument " + arg);
            }
        }
        if (bootstrap == null || run == null || topologies == null || stateDir == null) {
            usage("--bootstrap, --run, --topologies and --state-dir are required");
        }

        final List<String> names = new ArrayList<>();
        if (topologies.equals("all")) {
            names.addAll(Topologies.NAMES);
        } else {
            for (final String name : topologies.split(",")) {
                final String trimmed = name.trim();
                if (trimmed.isEmpty()) {
                    continue;
                }
                if (!Topologies.NAMES.contains(trimmed)) {
                    usage("unknown topology " + trimmed);
                }
                if (!names.contains(trimmed)) {
                    names.add(trimmed);
                }
            }
        }
        if (names.isEmpty()) {
            usage("no topologies given");
        }

        // Build every topology first, so that a mistake fails before anything starts.
        final Map<String, KafkaStreams> instances = new LinkedHashMap<>();
        for (final String name : names) {
            final StreamsBuilder builder = new StreamsBuilder();
            new Topologies(run, name).build(builder);
            final Topology topology = builder.build();
            instances.put(name, create(name, topology, config(bootstrap, run, name, stateDir)));
        }

        final CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            closeAll(instances);
            closed.countDown();
        }, "conformance-shutdown"));

        for (final Map.Entry<String, KafkaStreams> entry : instances.entrySet()) {
            try {
                entry.getValue().start();
            } catch (final RuntimeException e) {
                e.printStackTrace();
                emit("ERROR " + entry.getKey() + " " + oneLine(e));
            }
        }
        closed.await();
    }

    /** The configuration of the conformance application for one topology. */
    static Properties config(final String bootstrap, final String run, final String name, final String stateDir) {
        final Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "conf-" + run + "-" + name + "-java");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir + "/" + name);
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, -1);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        // Kafka Streams throttles two kinds of time-driven emission by wall-clock time (default:
        // at most once per 1000 ms per task): the non-joined records of stream-stream left and
        // outer joins, and the final results of windowed aggregations with
        // EmitStrategy.onWindowClose(). The harness writes all input before the applications
        // start, so a whole partition is processed within that second, and the emission the
        // flush record should trigger would be skipped (and nothing comes after it), making
        // the output depend on wall-clock timing. With 0, every record that advances stream
        // time emits what it closed, which is what kstreams does. Internal configs, read with
        // StreamsConfig.InternalConfig.getLong(appConfigs, name, 1000L).
        props.put(StreamsConfig.InternalConfig.EMIT_INTERVAL_MS_KSTREAMS_OUTER_JOIN_SPURIOUS_RESULTS_FIX, 0L);
        props.put(StreamsConfig.InternalConfig.EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION, 0L);
        return props;
    }

    private static KafkaStreams create(final String name, final Topology topology, final Properties props) {
        final KafkaStreams streams = new KafkaStreams(topology, props);
        final AtomicBoolean running = new AtomicBoolean(false);
        final AtomicBoolean failed = new AtomicBoolean(false);
        final AtomicReference<String> lastError = new AtomicReference<>("entered state ERROR");
        streams.setUncaughtExceptionHandler(exception -> {
            System.err.println("conformance: uncaught exception in topology " + name + ":");
            exception.printStackTrace();
            lastError.set(oneLine(exception));
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((newState, oldState) -> {
            if (newState == KafkaStreams.State.RUNNING && !running.getAndSet(true)) {
                emit("RUNNING " + name);
            } else if (newState == KafkaStreams.State.ERROR && !failed.getAndSet(true)) {
                emit("ERROR " + name + " " + lastError.get());
            }
        });
        return streams;
    }

    private static void closeAll(final Map<String, KafkaStreams> instances) {
        final List<Thread> closers = new ArrayList<>();
        for (final Map.Entry<String, KafkaStreams> entry : instances.entrySet()) {
            final Thread closer = new Thread(() -> {
                try {
                    entry.getValue().close(CLOSE_TIMEOUT);
                } catch (final RuntimeException e) {
                    System.err.println("conformance: closing " + entry.getKey() + " failed:");
                    e.printStackTrace();
                }
            }, "conformance-close-" + entry.getKey());
            closer.start();
            closers.add(closer);
        }
        for (final Thread closer : closers) {
            try {
                closer.join();
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** The innermost cause's class and message, on one line. */
    private static String oneLine(final Throwable exception) {
        Throwable t = exception;
        final StringBuilder sb = new StringBuilder();
        while (t != null) {
            if (sb.length() > 0) {
                sb.append(" caused by ");
            }
            sb.append(t.getClass().getName());
            if (t.getMessage() != null) {
                sb.append(": ").append(t.getMessage());
            }
            t = t.getCause() == t ? null : t.getCause();
        }
        return sb.toString().replaceAll("[\\r\\n]+", " ");
    }

    private static synchronized void emit(final String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static void usage(final String problem) {
        System.err.println("conformance: " + problem);
        System.err.println("usage: Main --bootstrap HOST:PORT --run RUN_ID --topologies all|a,b,... --state-dir DIR");
        System.exit(2);
    }
}
