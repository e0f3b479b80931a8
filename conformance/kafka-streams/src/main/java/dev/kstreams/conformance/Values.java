package dev.kstreams.conformance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;

/** The value functions and store declarations of the conformance README, shared by the topologies. */
final class Values {
    private static final Serde<String> S = Serdes.String();
    private static final Serde<Long> L = Serdes.Long();

    private Values() {
    }

    /** num(v) of the README. */
    static long num(final String v) {
        return Long.parseLong(v);
    }

    /** The number after the one-letter prefix of "L12" / "R7"; 0 if it does not parse ("F"). */
    static long suffixNum(final String v) {
        if (v == null || v.length() < 2) {
            return 0L;
        }
        try {
            return Long.parseLong(v.substring(1));
        } catch (final NumberFormatException e) {
            return 0L;
        }
    }

    /** The words of v: split on ' ', empty strings dropped; none for null. */
    static List<String> words(final String v) {
        if (v == null) {
            return List.of();
        }
        final List<String> words = new ArrayList<>();
        for (final String w : v.split(" ")) {
            if (!w.isEmpty()) {
                words.add(w);
            }
        }
        return words;
    }

    /** The first word of v, or null if it has none. */
    static String firstWord(final String v) {
        final List<String> words = words(v);
        return words.isEmpty() ? null : words.get(0);
    }

    static <V> Materialized<String, V, KeyValueStore<Bytes, byte[]>> kvStore(final String store, final Serde<V> valueSerde) {
        return Materialized.<String, V, KeyValueStore<Bytes, byte[]>>as(store)
            .withKeySerde(S)
            .withValueSerde(valueSerde);
    }

    static Materialized<String, Long, WindowStore<Bytes, byte[]>> windowStore(final String store) {
        return Materialized.<String, Long, WindowStore<Bytes, byte[]>>as(store)
            .withKeySerde(S)
            .withValueSerde(L);
    }

    static Materialized<String, Long, SessionStore<Bytes, byte[]>> sessionStore(final String store) {
        return Materialized.<String, Long, SessionStore<Bytes, byte[]>>as(store)
            .withKeySerde(S)
            .withValueSerde(L);
    }

    /**
     * The longer text, the greater one on equal lengths: independent of the order the
     * repartition topic interleaves the three input partitions in, so final values compare.
     */
    static String longerThenGreater(final String a, final String v) {
        if (v.length() != a.length()) {
            return v.length() > a.length() ? v : a;
        }
        return v.compareTo(a) >= 0 ? v : a;
    }

    /** The last 5 comma-separated items of s. */
    static String lastFive(final String s) {
        final String[] items = s.split(",", -1);
        if (items.length <= 5) {
            return s;
        }
        return String.join(",", Arrays.copyOfRange(items, items.length - 5, items.length));
    }
}
