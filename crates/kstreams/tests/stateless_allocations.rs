//! The stateless path allocates nothing of its own: from the raw input record through
//! filter, map, peek and map_values to the sink's bytes, the only heap allocations per
//! record are the ones the serdes' types make (a `String` key is one, a `String` value
//! another). Counted with a counting global allocator, on this thread only, after a
//! warm-up that lets the sink's reused buffers reach their size.

use kstreams::error::StreamsError;
use kstreams::internals::{InputRecord, OutgoingRecord, RecordCollector, Task, TaskConfig};
use kstreams::processor::Headers;
use kstreams::runtime::TaskId;
use kstreams::serde::{I64Serde, JsonSerde, StringSerde};
use kstreams::{Consumed, Produced, StreamsBuilder, Topology};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;

/// Counts allocations (and reallocations) made by the current thread, so that the test
/// harness's other threads do not disturb the count.
struct CountingAllocator;

thread_local! {
    // A const initializer with no destructor: reading it never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with` fails only while the thread is being torn down; nothing is measured then.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is passed to the system allocator unchanged; counting touches only a
// thread-local `Cell`.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Counts the records that reach the sink, without keeping them, so that a test also
/// shows its records went all the way through: a topology that dropped them would
/// allocate nothing too.
struct Counted(Rc<Cell<u64>>);

impl RecordCollector for Counted {
    fn send(&mut self, _r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        self.0.set(self.0.get() + 1);
        Ok(())
    }
    fn partition_count(&self, _topic: &str) -> Option<u32> {
        Some(1)
    }
}

const WARM_UP: usize = 1_000;
const MEASURED: usize = 20_000;

/// What one run did.
struct Run {
    /// Allocations during the measured records.
    allocated: u64,
    /// Records processed in all, the warm-up's included.
    processed: u64,
    /// Records that reached the sink in all.
    sent: u64,
}

/// Feeds `inputs` (cycled) through a task of `topology`: `WARM_UP` records, then
/// `MEASURED` more while counting allocations.
fn allocations_per_run(topology: &Topology, inputs: &[(Vec<u8>, Vec<u8>)]) -> Run {
    let config = TaskConfig::new("allocations");
    let sent = Rc::new(Cell::new(0));
    let mut task: Task = topology
        .create_task(TaskId::new(0, 0), &config, Box::new(Counted(sent.clone())))
        .expect("task");
    let mut feed = |from: usize, n: usize| {
        for i in from..from + n {
            let (key, value) = &inputs[i % inputs.len()];
            task.process(InputRecord {
                topic: "in",
                partition: 0,
                offset: i as i64,
                timestamp: i as i64,
                key: Some(key),
                value: Some(value),
                headers: Headers::new(),
            })
            .expect("process");
        }
    };
    feed(0, WARM_UP);
    let before = allocations();
    feed(WARM_UP, MEASURED);
    let allocated = allocations() - before;
    Run {
        allocated,
        processed: task.metrics().processed,
        sent: sent.get(),
    }
}

#[test]
fn fixed_width_records_allocate_nothing_from_source_to_sink() {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(I64Serde, I64Serde))
        .filter(|_, v| v % 7 != 0)
        .peek(|_, _| {})
        .map(|k, v| (k.unwrap_or_default() + 1, v))
        .filter_not(|k, _| k.is_some_and(|k| k % 11 == 0))
        .map_values(|v| v * 2)
        .to("out", Produced::with(I64Serde, I64Serde));
    let topology = builder.build().expect("topology");
    let inputs: Vec<_> = (0..1_000i64)
        .map(|i| (i.to_be_bytes().to_vec(), (i * 3).to_be_bytes().to_vec()))
        .collect();

    let run = allocations_per_run(&topology, &inputs);

    assert_eq!(run.processed, (WARM_UP + MEASURED) as u64);
    // The two filters' rules, applied to input `i`: value 3i, key i + 1 after the map.
    let kept = (0..WARM_UP + MEASURED)
        .map(|j| (j % inputs.len()) as i64)
        .filter(|&i| (i * 3) % 7 != 0 && (i + 1) % 11 != 0)
        .count();
    assert_eq!(run.sent, kept as u64, "records that reached the sink");
    let allocated = run.allocated;
    assert_eq!(
        allocated, 0,
        "{allocated} allocations in {MEASURED} records of a stateless topology of i64s"
    );
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Purchase {
    amount: i64,
    country: String,
}

#[test]
fn string_and_json_records_allocate_only_what_their_types_hold() {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "in",
            Consumed::with(StringSerde, JsonSerde::<Purchase>::new()),
        )
        .filter(|_, p| p.amount >= 10)
        .map_values(|mut p: Purchase| {
            // In place: `make_ascii_uppercase` keeps the buffer, so the mapper adds none.
            p.country.make_ascii_uppercase();
            p
        })
        .to(
            "out",
            Produced::with(StringSerde, JsonSerde::<Purchase>::new()),
        );
    let topology = builder.build().expect("topology");
    // Every input passes the filter, so every record makes the same allocations.
    let inputs: Vec<_> = (0..1_000)
        .map(|i| {
            let value = format!(r#"{{"amount":{},"country":"fr"}}"#, 10 + i);
            (format!("customer-{i:06}").into_bytes(), value.into_bytes())
        })
        .collect();

    let run = allocations_per_run(&topology, &inputs);
    assert_eq!(
        run.sent,
        (WARM_UP + MEASURED) as u64,
        "records that reached the sink"
    );
    let allocated = run.allocated;

    // The key's `String` and the value's `country`: two per record, and nothing else.
    let per_record = allocated as f64 / MEASURED as f64;
    assert_eq!(
        allocated,
        2 * MEASURED as u64,
        "{per_record:.3} allocations per record, where the types hold 2"
    );
}
