package dev.kstreams.conformance;

import static dev.kstreams.conformance.Values.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The 33 conformance topologies of conformance/README.md, in Kafka Streams DSL terms, one
 * method per row of the README's table. kstreams' side (crates/kstreams-conformance) must
 * build the same thing.
 *
 * <h2>Names</h2>
 * Input topic {@code <t>} of the README is {@code conf-<run>-<t>}; the output topic is
 * {@code conf-<run>-<topology>-out-java}. Stores named in the README's table are named with
 * {@code Materialized.as(name)}; every other store, repartition topic and processor keeps
 * the name Kafka Streams generates. No topology optimization (the default, "none"): a
 * {@code table()} source with a named store gets its own {@code <app>-<store>-changelog}.
 *
 * <h2>Serdes</h2>
 * Every {@code Consumed}, {@code Grouped}, {@code Materialized}, {@code Joined},
 * {@code StreamJoined} and {@code Produced} names its serdes; nothing depends on the default
 * serdes. Keys are {@code Serdes.String()}; values {@code Serdes.String()} or
 * {@code Serdes.Long()} as the table says (both write a null as a null, i.e. a tombstone).
 * Time-windowed output keys: {@code WindowedSerdes.timeWindowedSerdeFrom(String.class, size)}
 * (key bytes + 8-byte big-endian window start), size 10 s for tumbling, hopping, suppress and
 * emit-final and 5 s (the time difference) for sliding windows. Session-windowed output keys:
 * {@code WindowedSerdes.sessionWindowedSerdeFrom(String.class)} (key bytes + 8-byte end +
 * 8-byte start).
 *
 * <h2>Details the README's table leaves open, settled here</h2>
 * <ul>
 * <li>Nulls are treated as Kafka Streams 4.4 treats them. Stateless operations (filter,
 *     mapValues, map, flatMap, selectKey, split, merge) see null keys and values as they
 *     are. Non-windowed stream aggregations (count, reduce, aggregate, cogroup:
 *     KStreamAggregate, KStreamReduce) and sliding-window aggregations
 *     (KStreamSlidingWindowAggregate) skip records whose key or value is null. Time-window
 *     aggregations (KStreamWindowAggregate: tumbling-count, hopping-count, suppress-final,
 *     emit-final) and session-window aggregations (KStreamSessionWindowAggregate:
 *     session-count) skip only null keys: a null value is aggregated, so count() counts
 *     in-nums' tombstones there (checked in the 4.4.0 bytecode of their process methods).
 *     Null keys are judged after any re-keying: groupBy re-keys first, so a null input key
 *     does not drop the record there; a null key after re-keying does, as a repartition
 *     drops records whose key is null. Table sources drop null keys; a null
 *     value in a table source is a delete; a table groupBy mapper sees only non-null values
 *     (a delete subtracts the old value). Joins drop null keys (no join input here has one).
 *     {@code toStream()} of a table forwards every change, deletes as null values
 *     (tombstones in the output topic).</li>
 * <li>{@code num(v)} is {@code Long.parseLong(v)}. It is only applied to in-nums values,
 *     which always parse (the flush value there is "0"), and never to a null (nulls are
 *     filtered out, or never reach a table groupBy mapper).</li>
 * <li>{@code suffixNum(v)} (global-join, cogroup) is {@code Long.parseLong(v.substring(1))}
 *     for values like "L12" / "R7", and 0 when that does not parse (the flush value "F",
 *     whose suffix is empty).</li>
 * <li>Words (word-count, flatmap-count, selectkey-reduce): {@code v.split(" ")} with empty
 *     strings dropped; a null value has no words (word-count, flatmap-count emit nothing for
 *     it; selectkey-reduce gives it a null key, so the repartition drops it). The flush
 *     value "F" is the one word "F".</li>
 * <li>filter-upper: {@code toUpperCase(Locale.ROOT)}.</li>
 * <li>metrics-agg: the metric of a key is the part after the first '/' (the whole key if it
 *     has none).</li>
 * <li>flatmap-count: {@code flatMap((k,v) -> for each word w of v: KeyValue(w, k))}, then
 *     {@code groupByKey().count()}. A record whose input key was null becomes records whose
 *     value is null; they go through the repartition topic (as tombstones) and count skips
 *     them, as every stream aggregation skips null values.</li>
 * <li>branch-merge: split order neg ({@code num(v) < 0}), even ({@code num(v) % 2 == 0}),
 *     default odd; the value becomes "neg:"/"even:"/"odd:" + v; the three branches are
 *     merged and written.</li>
 * <li>stream-aggregate: the aggregator appends ("," + v, or v when the aggregate is empty),
 *     then keeps only the last 5 comma-separated items.</li>
 * <li>selectkey-reduce: key = first word; reduce keeps the longer, the greater string on
 *     equal lengths (order-independent, see longerThenGreater).</li>
 * <li>table-aggregate: adder {@code a + n*n}, subtractor {@code a - n*n}, n = num(v).</li>
 * <li>Joins: a null side is printed "null" (Java string concatenation). ss-*: JoinWindows
 *     .ofTimeDifferenceAndGrace(5 s, 2 s). stream-table joins, table-table joins and
 *     foreign-key joins use default (unnamed) join stores.</li>
 * <li>fk-*: foreign key = {@code v.split("\\|")[0]} ('|' literally, not as a regex); the
 *     flush value "F" has foreign key "F" (which matches nothing).</li>
 * <li>global-join: the global key is {@code "g" + (suffixNum(v) % 10)} with v the left value
 *     ("L12" gives "g2"); the flush value "F" looks up "g0".</li>
 * <li>cogroup: in-left aggregator {@code a + suffixNum(v)}, in-right aggregator
 *     {@code a + 1000}, initializer 0L.</li>
 * <li>Windowed counts write {@code toStream()} of the windowed table to the output topic;
 *     session-count's includes the tombstones of merged sessions.</li>
 * <li>emit-final, as Kafka Streams 4.4 behaves: the closed windows are fetched from the
 *     (time-ordered) window store only after the triggering record's own window was put,
 *     and the fetch starts no earlier than storeStreamTime - retention (retention = size +
 *     grace = 15 s; storeStreamTime = the largest window start put). So the flush record
 *     (window start T0 + 600 s) makes every window that was still open before it
 *     unreachable: they are never emitted (suppress-final does emit them). See
 *     AbstractKStreamTimeWindowAggregateProcessor.fetchAndEmit and
 *     AbstractDualSchemaRocksDBSegmentedBytesStore.getActualFrom.</li>
 * <li>Main sets the internal configs {@code __emit.interval.ms.kstreams.outer.join.spurious.results.fix__}
 *     and {@code __emit.interval.ms.kstreams.windowed.aggregation__} to 0 (default 1000 ms of
 *     wall-clock time): ss-left-join / ss-outer-join emit their non-joined records, and
 *     emit-final its closed windows, on every record that advances stream time, instead of
 *     at most once a second, so the output does not depend on how fast the input is read.</li>
 * </ul>
 */
final class Topologies {
    /** Every topology, in the README's order. */
    static final List<String> NAMES = List.of(
        "filter-upper",
        "sum-stream",
        "sum-table",
        "metrics-agg",
        "word-count",
        "map-count",
        "flatmap-count",
        "selectkey-reduce",
        "branch-merge",
        "stream-count",
        "stream-reduce",
        "stream-aggregate",
        "table-count",
        "table-reduce",
        "table-aggregate",
        "ss-inner-join",
        "ss-left-join",
        "ss-outer-join",
        "stream-table-join",
        "stream-table-left-join",
        "tt-inner-join",
        "tt-left-join",
        "tt-outer-join",
        "fk-inner-join",
        "fk-left-join",
        "global-join",
        "tumbling-count",
        "hopping-count",
        "sliding-count",
        "session-count",
        "suppress-final",
        "emit-final",
        "cogroup");

    private static final Serde<String> S = Serdes.String();
    private static final Serde<Long> L = Serdes.Long();

    private static final Duration TEN_S = Duration.ofSeconds(10);
    private static final Duration FIVE_S = Duration.ofSeconds(5);
    private static final Duration TWO_S = Duration.ofSeconds(2);
    private static final Duration THREE_S = Duration.ofSeconds(3);

    private final String run;
    private final String name;

    Topologies(final String run, final String name) {
        this.run = run;
        this.name = name;
    }

    /** Input topic {@code t} of the README, for this run. */
    private String in(final String topic) {
        return "conf-" + run + "-" + topic;
    }

    /** This topology's output topic. */
    private String out() {
        return "conf-" + run + "-" + name + "-out-java";
    }

    void build(final StreamsBuilder b) {
        switch (name) {
            case "filter-upper" -> filterUpper(b);
            case "sum-stream" -> sumStream(b);
            case "sum-table" -> sumTable(b);
            case "metrics-agg" -> metricsAgg(b);
            case "word-count" -> wordCount(b);
            case "map-count" -> mapCount(b);
            case "flatmap-count" -> flatmapCount(b);
            case "selectkey-reduce" -> selectkeyReduce(b);
            case "branch-merge" -> branchMerge(b);
            case "stream-count" -> streamCount(b);
            case "stream-reduce" -> streamReduce(b);
            case "stream-aggregate" -> streamAggregate(b);
            case "table-count" -> tableCount(b);
            case "table-reduce" -> tableReduce(b);
            case "table-aggregate" -> tableAggregate(b);
            case "ss-inner-join" -> ssInnerJoin(b);
            case "ss-left-join" -> ssLeftJoin(b);
            case "ss-outer-join" -> ssOuterJoin(b);
            case "stream-table-join" -> streamTableJoin(b);
            case "stream-table-left-join" -> streamTableLeftJoin(b);
            case "tt-inner-join" -> ttInnerJoin(b);
            case "tt-left-join" -> ttLeftJoin(b);
            case "tt-outer-join" -> ttOuterJoin(b);
            case "fk-inner-join" -> fkInnerJoin(b);
            case "fk-left-join" -> fkLeftJoin(b);
            case "global-join" -> globalJoin(b);
            case "tumbling-count" -> tumblingCount(b);
            case "hopping-count" -> hoppingCount(b);
            case "sliding-count" -> slidingCount(b);
            case "session-count" -> sessionCount(b);
            case "suppress-final" -> suppressFinal(b);
            case "emit-final" -> emitFinal(b);
            case "cogroup" -> cogroup(b);
            default -> throw new IllegalArgumentException("unknown topology " + name);
        }
    }

    // ---------------------------------------------------------------- helpers


    private KStream<String, String> stream(final StreamsBuilder b, final String topic) {
        return b.stream(in(topic), Consumed.with(S, S));
    }

    private KTable<String, String> table(final StreamsBuilder b, final String topic) {
        return b.table(in(topic), Consumed.with(S, S));
    }

    private Produced<String, String> producedString() {
        return Produced.with(S, S);
    }

    private Produced<String, Long> producedLong() {
        return Produced.with(S, L);
    }

    private Produced<Windowed<String>, Long> producedTimeWindowed(final long windowSizeMs) {
        return Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, windowSizeMs), L);
    }

    private Produced<Windowed<String>, Long> producedSessionWindowed() {
        return Produced.with(WindowedSerdes.sessionWindowedSerdeFrom(String.class), L);
    }

    // ---------------------------------------------------------------- 1-9: stateless, re-keyed aggregations

    /** 1. stream(in-text).filter(v != null && v.contains("a")).mapValues(toUpperCase). */
    private void filterUpper(final StreamsBuilder b) {
        stream(b, "in-text")
            .filter((k, v) -> v != null && v.contains("a"))
            .mapValues(v -> v.toUpperCase(Locale.ROOT))
            .to(out(), producedString());
    }

    /** 2. stream(in-nums).filter(v != null).groupBy("sum").aggregate(0, a + num(v)). */
    private void sumStream(final StreamsBuilder b) {
        stream(b, "in-nums")
            .filter((k, v) -> v != null)
            .groupBy((k, v) -> "sum", Grouped.with(S, S))
            .aggregate(() -> 0L, (k, v, a) -> a + num(v), kvStore("sum-stream-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    /** 3. table(in-nums, "sum-table-source").groupBy(("sum", v)).aggregate(0, +num(v), -num(v)). */
    private void sumTable(final StreamsBuilder b) {
        b.table(in("in-nums"), Consumed.with(S, S), kvStore("sum-table-source", S))
            .groupBy((k, v) -> KeyValue.pair("sum", v), Grouped.with(S, S))
            .aggregate(() -> 0L, (k, v, a) -> a + num(v), (k, v, a) -> a - num(v), kvStore("sum-table-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    /** 4. table(in-metrics).groupBy((metric of k, v)).aggregate(0, +num(v), -num(v)). */
    private void metricsAgg(final StreamsBuilder b) {
        table(b, "in-metrics")
            .groupBy((k, v) -> KeyValue.pair(k.substring(k.indexOf('/') + 1), v), Grouped.with(S, S))
            .aggregate(() -> 0L, (k, v, a) -> a + num(v), (k, v, a) -> a - num(v), kvStore("metrics-agg-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    /** 5. stream(in-text).flatMapValues(words).groupBy(w).count(). */
    private void wordCount(final StreamsBuilder b) {
        stream(b, "in-text")
            .flatMapValues(Values::words)
            .groupBy((k, w) -> w, Grouped.with(S, S))
            .count(kvStore("word-count-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    /** 6. stream(in-nums).filter(v != null).map(("m" + floorMod(num(v), 5), v)).groupByKey().count(). */
    private void mapCount(final StreamsBuilder b) {
        stream(b, "in-nums")
            .filter((k, v) -> v != null)
            .map((k, v) -> KeyValue.pair("m" + Math.floorMod(num(v), 5L), v))
            .groupByKey(Grouped.with(S, S))
            .count(kvStore("map-count-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    /** 7. stream(in-text).flatMap(for each word w: (w, k)).groupByKey().count(). */
    private void flatmapCount(final StreamsBuilder b) {
        stream(b, "in-text")
            .flatMap((k, v) -> {
                final List<KeyValue<String, String>> pairs = new ArrayList<>();
                for (final String w : words(v)) {
                    pairs.add(KeyValue.pair(w, k));
                }
                return pairs;
            })
            .groupByKey(Grouped.with(S, S))
            .count(kvStore("flatmap-count-store", L))
            .toStream()
            .to(out(), producedLong());
    }


    /** 8. stream(in-text).selectKey(first word).groupByKey().reduce(longer, then greater). */
    private void selectkeyReduce(final StreamsBuilder b) {
        stream(b, "in-text")
            .selectKey((k, v) -> firstWord(v))
            .groupByKey(Grouped.with(S, S))
            .reduce(Values::longerThenGreater, kvStore("selectkey-reduce-store", S))
            .toStream()
            .to(out(), producedString());
    }

    /** 9. stream(in-nums).filter(v != null), split neg / even / odd, prefixed, merged. */
    private void branchMerge(final StreamsBuilder b) {
        final Map<String, KStream<String, String>> branches = stream(b, "in-nums")
            .filter((k, v) -> v != null)
            .split(Named.as("branch-"))
            .branch((k, v) -> num(v) < 0, Branched.withFunction(s -> s.mapValues(v -> "neg:" + v), "neg"))
            .branch((k, v) -> num(v) % 2 == 0, Branched.withFunction(s -> s.mapValues(v -> "even:" + v), "even"))
            .defaultBranch(Branched.withFunction(s -> s.mapValues(v -> "odd:" + v), "odd"));
        branches.get("branch-neg")
            .merge(branches.get("branch-even"))
            .merge(branches.get("branch-odd"))
            .to(out(), producedString());
    }

    // ---------------------------------------------------------------- 10-15: aggregations

    /** 10. stream(in-nums).groupByKey().count(). */
    private void streamCount(final StreamsBuilder b) {
        stream(b, "in-nums")
            .groupByKey(Grouped.with(S, S))
            .count(kvStore("stream-count-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    /** 11. stream(in-nums).filter(v != null).mapValues(num).groupByKey().reduce(max). */
    private void streamReduce(final StreamsBuilder b) {
        stream(b, "in-nums")
            .filter((k, v) -> v != null)
            .mapValues(Values::num)
            .groupByKey(Grouped.with(S, L))
            .reduce(Math::max, kvStore("stream-reduce-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    /** 12. stream(in-nums).filter(v != null).groupByKey().aggregate("", append, last 5 items). */
    private void streamAggregate(final StreamsBuilder b) {
        stream(b, "in-nums")
            .filter((k, v) -> v != null)
            .groupByKey(Grouped.with(S, S))
            .aggregate(() -> "", (k, v, a) -> lastFive(a.isEmpty() ? v : a + "," + v), kvStore("stream-aggregate-store", S))
            .toStream()
            .to(out(), producedString());
    }


    /** 13. table(in-nums).groupBy(("r" + floorMod(num(v), 3), v)).count(). */
    private void tableCount(final StreamsBuilder b) {
        table(b, "in-nums")
            .groupBy((k, v) -> KeyValue.pair("r" + Math.floorMod(num(v), 3L), v), Grouped.with(S, S))
            .count(kvStore("table-count-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    /** 14. table(in-nums).groupBy(("r" + floorMod(num(v), 3), num(v))).reduce(add, subtract). */
    private void tableReduce(final StreamsBuilder b) {
        table(b, "in-nums")
            .groupBy((k, v) -> KeyValue.pair("r" + Math.floorMod(num(v), 3L), num(v)), Grouped.with(S, L))
            .reduce((a, v) -> a + v, (a, v) -> a - v, kvStore("table-reduce-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    /** 15. table(in-nums).groupBy(("r" + floorMod(num(v), 3), v)).aggregate(0, +num(v)², -num(v)²). */
    private void tableAggregate(final StreamsBuilder b) {
        table(b, "in-nums")
            .groupBy((k, v) -> KeyValue.pair("r" + Math.floorMod(num(v), 3L), v), Grouped.with(S, S))
            .aggregate(
                () -> 0L,
                (k, v, a) -> a + num(v) * num(v),
                (k, v, a) -> a - num(v) * num(v),
                kvStore("table-aggregate-store", L))
            .toStream()
            .to(out(), producedLong());
    }

    // ---------------------------------------------------------------- 16-26: joins

    private JoinWindows ssWindows() {
        return JoinWindows.ofTimeDifferenceAndGrace(FIVE_S, TWO_S);
    }

    private StreamJoined<String, String, String> ssJoined() {
        return StreamJoined.with(S, S, S);
    }

    /** 16. stream(in-left).join(stream(in-right), l + "+" + r, 5 s, grace 2 s). */
    private void ssInnerJoin(final StreamsBuilder b) {
        stream(b, "in-left")
            .join(stream(b, "in-right"), (l, r) -> l + "+" + r, ssWindows(), ssJoined())
            .to(out(), producedString());
    }

    /** 17. as 16 with leftJoin. */
    private void ssLeftJoin(final StreamsBuilder b) {
        stream(b, "in-left")
            .leftJoin(stream(b, "in-right"), (l, r) -> l + "+" + r, ssWindows(), ssJoined())
            .to(out(), producedString());
    }

    /** 18. as 16 with outerJoin. */
    private void ssOuterJoin(final StreamsBuilder b) {
        stream(b, "in-left")
            .outerJoin(stream(b, "in-right"), (l, r) -> l + "+" + r, ssWindows(), ssJoined())
            .to(out(), producedString());
    }

    /** 19. stream(in-left).join(table(in-table), l + "*" + t). */
    private void streamTableJoin(final StreamsBuilder b) {
        stream(b, "in-left")
            .join(table(b, "in-table"), (l, t) -> l + "*" + t, Joined.with(S, S, S))
            .to(out(), producedString());
    }

    /** 20. as 19 with leftJoin. */
    private void streamTableLeftJoin(final StreamsBuilder b) {
        stream(b, "in-left")
            .leftJoin(table(b, "in-table"), (l, t) -> l + "*" + t, Joined.with(S, S, S))
            .to(out(), producedString());
    }

    /** 21. table(in-table).join(table(in-table2), a + "&" + b). */
    private void ttInnerJoin(final StreamsBuilder b) {
        table(b, "in-table")
            .join(table(b, "in-table2"), (x, y) -> x + "&" + y)
            .toStream()
            .to(out(), producedString());
    }

    /** 22. as 21 with leftJoin. */
    private void ttLeftJoin(final StreamsBuilder b) {
        table(b, "in-table")
            .leftJoin(table(b, "in-table2"), (x, y) -> x + "&" + y)
            .toStream()
            .to(out(), producedString());
    }

    /** 23. as 21 with outerJoin. */
    private void ttOuterJoin(final StreamsBuilder b) {
        table(b, "in-table")
            .outerJoin(table(b, "in-table2"), (x, y) -> x + "&" + y)
            .toStream()
            .to(out(), producedString());
    }

    /** The foreign key of an in-fk-left value "c3|17": "c3". */
    private static final Function<String, String> FOREIGN_KEY = v -> v.split("\\|", -1)[0];

    /** 24. table(in-fk-left).join(table(in-fk-right), fk, o + "@" + c). */
    private void fkInnerJoin(final StreamsBuilder b) {
        table(b, "in-fk-left")
            .join(table(b, "in-fk-right"), FOREIGN_KEY, (o, c) -> o + "@" + c)
            .toStream()
            .to(out(), producedString());
    }

    /** 25. as 24 with leftJoin. */
    private void fkLeftJoin(final StreamsBuilder b) {
        table(b, "in-fk-left")
            .leftJoin(table(b, "in-fk-right"), FOREIGN_KEY, (o, c) -> o + "@" + c)
            .toStream()
            .to(out(), producedString());
    }

    /** 26. stream(in-left).join(globalTable(in-global), "g" + (suffixNum(v) % 10), l + "^" + g). */
    private void globalJoin(final StreamsBuilder b) {
        final GlobalKTable<String, String> global = b.globalTable(in("in-global"), Consumed.with(S, S));
        stream(b, "in-left")
            .join(global, (k, v) -> "g" + (suffixNum(v) % 10), (l, g) -> l + "^" + g)
            .to(out(), producedString());
    }

    // ---------------------------------------------------------------- 27-33: windows, cogroup

    private KGroupedStream<String, String> numsByKey(final StreamsBuilder b) {
        return stream(b, "in-nums").groupByKey(Grouped.with(S, S));
    }

    /** 27. stream(in-nums).groupByKey().windowedBy(10 s, grace 5 s).count(). */
    private void tumblingCount(final StreamsBuilder b) {
        numsByKey(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(TEN_S, FIVE_S))
            .count(windowStore("tumbling-count-store"))
            .toStream()
            .to(out(), producedTimeWindowed(TEN_S.toMillis()));
    }

    /** 28. as 27 with 10 s windows advancing by 5 s, grace 2 s. */
    private void hoppingCount(final StreamsBuilder b) {
        numsByKey(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(TEN_S, TWO_S).advanceBy(FIVE_S))
            .count(windowStore("hopping-count-store"))
            .toStream()
            .to(out(), producedTimeWindowed(TEN_S.toMillis()));
    }

    /** 29. stream(in-nums).groupByKey().windowedBy(sliding 5 s, grace 2 s).count(). */
    private void slidingCount(final StreamsBuilder b) {
        numsByKey(b)
            .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(FIVE_S, TWO_S))
            .count(windowStore("sliding-count-store"))
            .toStream()
            .to(out(), producedTimeWindowed(FIVE_S.toMillis()));
    }

    /** 30. stream(in-nums).groupByKey().windowedBy(session gap 3 s, grace 2 s).count(). */
    private void sessionCount(final StreamsBuilder b) {
        numsByKey(b)
            .windowedBy(SessionWindows.ofInactivityGapAndGrace(THREE_S, TWO_S))
            .count(sessionStore("session-count-store"))
            .toStream()
            .to(out(), producedSessionWindowed());
    }

    /** 31. as 27, then suppress(untilWindowCloses(unbounded())). */
    private void suppressFinal(final StreamsBuilder b) {
        numsByKey(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(TEN_S, FIVE_S))
            .count(windowStore("suppress-final-store"))
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
            .toStream()
            .to(out(), producedTimeWindowed(TEN_S.toMillis()));
    }

    /** 32. as 27 with emitStrategy(onWindowClose()). */
    private void emitFinal(final StreamsBuilder b) {
        numsByKey(b)
            .windowedBy(TimeWindows.ofSizeAndGrace(TEN_S, FIVE_S))
            .emitStrategy(EmitStrategy.onWindowClose())
            .count(windowStore("emit-final-store"))
            .toStream()
            .to(out(), producedTimeWindowed(TEN_S.toMillis()));
    }

    /** 33. in-left and in-right grouped by key, cogrouped: left + suffixNum(v), right + 1000. */
    private void cogroup(final StreamsBuilder b) {
        final KGroupedStream<String, String> left = stream(b, "in-left").groupByKey(Grouped.with(S, S));
        final KGroupedStream<String, String> right = stream(b, "in-right").groupByKey(Grouped.with(S, S));
        left.<Long>cogroup((k, v, a) -> a + suffixNum(v))
            .cogroup(right, (k, v, a) -> a + 1000L)
            .aggregate(() -> 0L, kvStore("cogroup-store", L))
            .toStream()
            .to(out(), producedLong());
    }
}
