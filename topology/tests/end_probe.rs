//! `--exit-at-end` must not depend on librdkafka's end-of-partition events alone: one that
//! arrives on the main queue before the partition's queue is split off carries no topic and
//! cannot be routed. With the events switched off entirely, the run must still end, through
//! the consumer's positions and cached high watermarks, with every record written.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, BinaryArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use lakestream_state::{PartitionDb, StateBatch};
use lakestream_topology::metrics::RuntimeMetrics;
use lakestream_topology::mock::MockKafka;
use lakestream_topology::{
    Dataset, DerivedFile, LiveStores, Parsed, Processor, ProcessorFactory, RouteContext,
    RunControl, RuntimeConfig, SourceRecord,
};
use object_store::local::LocalFileSystem;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tokio_util::sync::CancellationToken;

/// Writes each record's value to one dataset, in the hour of its Kafka timestamp.
struct Values(Arc<Vec<Dataset>>);

/// Keeps no state.
impl Processor for Values {
    type Row = Vec<u8>;
    type Parsed = ();
    fn datasets(&self) -> Arc<Vec<Dataset>> {
        self.0.clone()
    }
    fn stores(&self) -> &'static [&'static str] {
        &[]
    }
    fn attach(&mut self, _: Arc<PartitionDb>) {}
    fn parse(&self, record: &SourceRecord) -> Parsed<()> {
        Parsed {
            event_time_ms: record.timestamp_ms.unwrap_or(0),
            advances_watermark: true,
            value: (),
        }
    }
    fn route(
        &mut self,
        record: &SourceRecord,
        _: Parsed<()>,
        _: RouteContext,
    ) -> anyhow::Result<Vec<(usize, Vec<u8>)>> {
        Ok(vec![(
            0,
            record.value.as_deref().unwrap_or_default().to_vec(),
        )])
    }
    fn stage(
        &mut self,
        _: &[i64],
        _: Option<i64>,
        _: &mut StateBatch<'_>,
    ) -> anyhow::Result<Vec<i64>> {
        Ok(Vec::new())
    }
    fn forget(&mut self, _: &[i64]) {}
    fn describe(&self, _: usize, _: &[Vec<u8>], _: &RecordBatch) -> serde_json::Value {
        serde_json::Value::Null
    }
    fn derived(&self, _: &[i64]) -> anyhow::Result<Vec<DerivedFile<Vec<u8>>>> {
        Ok(Vec::new())
    }
    fn row_bytes(row: &Vec<u8>) -> usize {
        row.len()
    }
    fn encode(&self, _: usize, rows: &[Vec<u8>]) -> anyhow::Result<RecordBatch> {
        let values: ArrayRef = Arc::new(BinaryArray::from_iter_values(rows.iter()));
        Ok(RecordBatch::try_new(
            self.0[0].schema.clone(),
            vec![values],
        )?)
    }
}

struct Factory(Arc<Vec<Dataset>>);

impl ProcessorFactory for Factory {
    type Processor = Values;
    fn create(&self, _: i32) -> Values {
        Values(self.0.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_at_end_works_without_end_of_partition_events() {
    let kafka = MockKafka::start(1).unwrap();
    kafka.create_topic("probe.values", 2).unwrap();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .unwrap();
    for i in 0..200 {
        let key = format!("k{}", i % 7);
        let value = format!("v{i}");
        producer
            .send(BaseRecord::to("probe.values").key(&key).payload(&value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let lake = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "value",
        DataType::Binary,
        false,
    )]));
    let datasets = Arc::new(vec![Dataset {
        path: "raw/values".into(),
        schema,
        plain_columns: vec![],
    }]);
    let mut kafka_config = ClientConfig::new();
    kafka_config
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("group.id", "probe")
        .set("session.timeout.ms", "6000");
    let state = tempfile::tempdir().unwrap();
    // The second run consumes nothing: its position comes from the manifest alone.
    for _ in 0..2 {
        let config = RuntimeConfig {
            topics: vec!["probe.values".into()],
            partition_eof_events: false,
            state_dir: state.path().to_path_buf(),
            ..RuntimeConfig::default()
        };
        let (_tx, exit_at_end) = tokio::sync::watch::channel(true);
        let control = RunControl {
            shutdown: CancellationToken::new(),
            exit_at_end,
        };
        let run = lakestream_topology::run(
            &kafka_config,
            Arc::new(LocalFileSystem::new_with_prefix(lake.path()).unwrap()),
            config,
            Factory(datasets.clone()),
            RuntimeMetrics::new(&prometheus::Registry::new()),
            Arc::new(LiveStores::default()),
            control,
        );
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the run ended")
            .unwrap();
    }

    let mut rows = 0;
    for entry in walk(&lake.path().join("raw/values")) {
        let file = std::fs::File::open(entry).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        rows += reader.map(|b| b.unwrap().num_rows()).sum::<usize>();
    }
    assert_eq!(rows, 200);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    out
}
