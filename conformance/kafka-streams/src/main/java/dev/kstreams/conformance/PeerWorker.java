package dev.kstreams.conformance;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The Kafka Streams side of {@code peer_bench} (crates/kstreams-bench; test infrastructure
 * only, like the rest of this project): one workload as one KafkaStreams, until SIGTERM.
 *
 * <pre>
 * java -Xmx1g -cp target/classes:CLASSPATH dev.kstreams.conformance.PeerWorker \
 *     --workload w1|w2|w3|w4 --bootstrap HOST:PORT --input IN --output OUT --group G \
 *     --state-dir DIR --commit-ms 5000 [--consumer-config key=value]...
 * </pre>
 *
 * The arguments mirror crates/kstreams-bench/quix/worker.py. {@code peer_bench} measures
 * the process from outside and reads the output topic itself, so nothing here counts or
 * times anything. Each workload writes what the kstreams topology of the same name in
 * crates/kstreams-bench/src/peers/workloads.rs writes: string keys, JSON values.
 */
public final class PeerWorker {
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);
    /** W3's windows: one minute, 5 s grace (workloads.rs: WINDOW_MS, GRACE_MS). */
    private static final Duration WINDOW = Duration.ofMillis(60_000);
    private static final Duration GRACE = Duration.ofMillis(5_000);

    private static final ObjectMapper JSON = new ObjectMapper()
            // serde's default: fields the struct does not name are skipped.
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private PeerWorker() {
    }

    /** The benchmarks' input record (kstreams_bench::Purchase), fields in its order. */
    @JsonPropertyOrder({"id", "customer", "amount", "currency", "country", "device", "ts", "note"})
    public record Purchase(long id, String customer, double amount, String currency, String country,
                           String device, long ts, String note) {
        /** The benchmarks' filter: drops small amounts (about 1 record in 100). */
        boolean keep() {
            return amount >= 10.0;
        }

        /** The benchmarks' map_values: upper-cases the country code. */
        Purchase normalized() {
            return new Purchase(id, customer, amount, currency, country.toUpperCase(java.util.Locale.ROOT),
                    device, ts, note);
        }
    }

    /** A windowed count as every system writes it (workloads.rs: WindowCount). */
    @JsonPropertyOrder({"start", "end", "value"})
    public record WindowCount(long start, long end, long value) {
    }

    /** JSON through Jackson, as kstreams' JsonSerde goes through serde_json. */
    static <T> Serde<T> json(final Class<T> type) {
        final Serializer<T> serializer = (topic, value) -> {
            if (value == null) {
                return null;
            }
            try {
                return JSON.writeValueAsBytes(value);
            } catch (final IOException e) {
                throw new SerializationException("JSON of " + type.getSimpleName(), e);
            }
        };
        final Deserializer<T> deserializer = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            try {
                return JSON.readValue(bytes, type);
            } catch (final IOException e) {
                throw new SerializationException("JSON of " + type.getSimpleName(), e);
            }
        };
        return Serdes.serdeFrom(serializer, deserializer);
    }

    public static void main(final String[] args) throws InterruptedException {
        String workload = null;
        String bootstrap = null;
        String input = null;
        String output = null;
        String group = null;
        String stateDir = null;
        long commitMs = 5_000;
        final List<String> consumerConfig = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            final String arg = args[i];
            if (i + 1 >= args.length) {
                usage("missing value for " + arg);
            }
            final String value = args[++i];
            switch (arg) {
                case "--workload" -> workload = value;
                case "--bootstrap" -> bootstrap = value;
                case "--input" -> input = value;
                case "--output" -> output = value;
                case "--group" -> group = value;
                case "--state-dir" -> stateDir = value;
                case "--commit-ms" -> commitMs = Long.parseLong(value);
                case "--consumer-config" -> consumerConfig.add(value);
                default -> usage("unknown argument " + arg);
            }
        }
        if (workload == null || bootstrap == null || input == null || output == null || group == null
                || stateDir == null) {
            usage("--workload, --bootstrap, --input, --output, --group and --state-dir are required");
        }

        final StreamsBuilder builder = new StreamsBuilder();
        build(builder, workload, input, output);
        final Properties props = config(bootstrap, group, stateDir, commitMs, consumerConfig);
        final KafkaStreams streams = new KafkaStreams(builder.build(), props);

        final CountDownLatch failed = new CountDownLatch(1);
        streams.setUncaughtExceptionHandler(exception -> {
            System.err.println("peer worker: uncaught exception:");
            exception.printStackTrace();
            failed.countDown();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setStateListener((newState, oldState) -> {
            System.err.println("peer worker: " + oldState + " -> " + newState);
            if (newState == KafkaStreams.State.ERROR) {
                failed.countDown();
            }
        });
        // SIGTERM (from peer_bench) runs the hook: a clean close (final commit, stores
        // flushed and closed), after which the JVM exits.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (!streams.close(CLOSE_TIMEOUT)) {
                System.err.println("peer worker: close did not finish within " + CLOSE_TIMEOUT);
            }
        }, "peer-worker-shutdown"));

        streams.start();
        // Returns only if the instance failed: SIGTERM ends the JVM from the hook.
        failed.await();
        System.err.println("peer worker: Kafka Streams failed; exiting");
        System.exit(1);
    }

    /** The topology of one workload: what kstreams_topology builds in workloads.rs. */
    static void build(final StreamsBuilder builder, final String workload, final String input,
                      final String output) {
        final Serde<String> strings = Serdes.String();
        final Serde<Purchase> purchases = json(Purchase.class);
        final KStream<String, Purchase> stream = builder.stream(input, Consumed.with(strings, purchases));
        switch (workload) {
            case "w1", "w4" -> stream
                    .filter((key, p) -> p != null && p.keep())
                    .mapValues(Purchase::normalized)
                    .to(output, Produced.with(strings, purchases));
            // With statestore.cache.max.bytes=0 (see config) every update is forwarded: one
            // output per input record, as kstreams and Quix Streams write and as the output
            // check of W2 and W3 expects.
            case "w2" -> stream
                    .groupByKey(Grouped.with(strings, purchases))
                    .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("purchases-per-customer")
                            .withKeySerde(strings)
                            .withValueSerde(Serdes.Long()))
                    .toStream()
                    // The count as a JSON number, as kstreams' JsonSerde<i64> writes it.
                    .mapValues(count -> count == null ? null : Long.toString(count))
                    .to(output, Produced.with(strings, strings));
            case "w3" -> stream
                    .groupByKey(Grouped.with(strings, purchases))
                    .windowedBy(TimeWindows.ofSizeAndGrace(WINDOW, GRACE))
                    .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("purchases-per-minute")
                            .withKeySerde(strings)
                            .withValueSerde(Serdes.Long()))
                    .toStream()
                    // Key: the customer; value: {"start","end","value"}, Quix's window shape.
                    .map((windowed, count) -> KeyValue.pair(
                            windowed.key(),
                            new WindowCount(windowed.window().start(), windowed.window().end(),
                                    count == null ? 0 : count)))
                    .to(output, Produced.with(strings, json(WindowCount.class)));
            default -> usage("unknown workload " + workload);
        }
    }

    /** The configuration every workload runs with. */
    static Properties config(final String bootstrap, final String group, final String stateDir,
                             final long commitMs, final List<String> consumerConfig) {
        final Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, group);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
        // No record cache: every update goes downstream at once, as in kstreams and Quix
        // Streams. The output check of W2 and W3 expects one output per input record.
        props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0L);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        // Kafka Streams raises its producer's linger.ms to 100 (PRODUCER_DEFAULT_OVERRIDES).
        // Every other system lingers 5 ms (librdkafka's default, kstreams' setting, and the
        // Java producer's own default since Kafka 4.0), so this one does too.
        props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        for (final String kv : consumerConfig) {
            final int eq = kv.indexOf('=');
            if (eq <= 0) {
                usage("--consumer-config wants key=value, not " + kv);
            }
            props.put(StreamsConfig.consumerPrefix(kv.substring(0, eq)), kv.substring(eq + 1));
        }
        return props;
    }

    private static void usage(final String problem) {
        System.err.println("peer worker: " + problem);
        System.err.println("usage: PeerWorker --workload w1|w2|w3|w4 --bootstrap HOST:PORT --input TOPIC "
                + "--output TOPIC --group ID --state-dir DIR --commit-ms MS [--consumer-config k=v]...");
        System.exit(2);
    }
}
