//! librdkafka's in-process mock cluster, set up for fast group joins. Used by the demo and
//! by the fast tests; it speaks the real Kafka protocol on a loopback port, so lakestream
//! talks to it exactly as to a broker (even from another process).
//!
//! Its logs are capped at about 5 MiB per partition (older batches vanish silently): keep
//! data sets small.

use std::ffi::{CStr, CString};

use rdkafka::bindings as rdsys;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

use crate::error::{Result, RuntimeError};

pub struct MockKafka {
    /// The cluster lives as long as the client that created it.
    owner: BaseProducer,
    bootstrap: String,
}

impl MockKafka {
    pub fn start(brokers: i32) -> Result<Self> {
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.to_string())
            .set("log_level", "3")
            .create()
            .map_err(|source| RuntimeError::Kafka {
                context: "starting the mock cluster".into(),
                source,
            })?;
        let cluster = Self::cluster_ptr(&owner)?;
        // SAFETY: `cluster` belongs to `owner`, which outlives every use (it is a field).
        let bootstrap = unsafe {
            // The default 3 s initial rebalance delay dominates short runs.
            rdsys::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0);
            CStr::from_ptr(rdsys::rd_kafka_mock_cluster_bootstraps(cluster))
                .to_string_lossy()
                .into_owned()
        };
        Ok(MockKafka { owner, bootstrap })
    }

    fn cluster_ptr(owner: &BaseProducer) -> Result<*mut rdsys::rd_kafka_mock_cluster_t> {
        // SAFETY: the native handle is valid while `owner` lives.
        let cluster = unsafe { rdsys::rd_kafka_handle_mock_cluster(owner.client().native_ptr()) };
        if cluster.is_null() {
            return Err(RuntimeError::Config(
                "librdkafka did not create a mock cluster".into(),
            ));
        }
        Ok(cluster)
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        let cluster = Self::cluster_ptr(&self.owner)?;
        let topic = CString::new(name)
            .map_err(|_| RuntimeError::Config(format!("topic name `{name}` has a NUL byte")))?;
        // SAFETY: valid cluster pointer (see `cluster_ptr`) and a NUL-terminated name.
        let err =
            unsafe { rdsys::rd_kafka_mock_topic_create(cluster, topic.as_ptr(), partitions, 1) };
        if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(RuntimeError::Config(format!(
                "mock cluster refused topic `{name}`: {err:?}"
            )));
        }
        Ok(())
    }

    /// Makes broker `broker` (ids count from 1) the leader of one partition.
    pub fn set_leader(&self, topic: &str, partition: i32, broker: i32) -> Result<()> {
        let cluster = Self::cluster_ptr(&self.owner)?;
        let name = CString::new(topic)
            .map_err(|_| RuntimeError::Config(format!("topic name `{topic}` has a NUL byte")))?;
        // SAFETY: valid cluster pointer and a NUL-terminated name.
        let err = unsafe {
            rdsys::rd_kafka_mock_partition_set_leader(cluster, name.as_ptr(), partition, broker)
        };
        Self::check(err, &format!("leader of {topic}/{partition}"))
    }

    /// Makes broker `broker` the coordinator of consumer group `group`.
    pub fn set_group_coordinator(&self, group: &str, broker: i32) -> Result<()> {
        let cluster = Self::cluster_ptr(&self.owner)?;
        let key = CString::new(group)
            .map_err(|_| RuntimeError::Config(format!("group `{group}` has a NUL byte")))?;
        // SAFETY: valid cluster pointer and NUL-terminated strings.
        let err = unsafe {
            rdsys::rd_kafka_mock_coordinator_set(cluster, c"group".as_ptr(), key.as_ptr(), broker)
        };
        Self::check(err, &format!("coordinator of group {group}"))
    }

    /// Takes broker `broker` down (it refuses connections; its partitions keep it as
    /// their leader, so they cannot be read) or brings it back up.
    pub fn set_broker_up(&self, broker: i32, up: bool) -> Result<()> {
        let cluster = Self::cluster_ptr(&self.owner)?;
        // SAFETY: valid cluster pointer.
        let err = unsafe {
            if up {
                rdsys::rd_kafka_mock_broker_set_up(cluster, broker)
            } else {
                rdsys::rd_kafka_mock_broker_set_down(cluster, broker)
            }
        };
        Self::check(err, &format!("broker {broker} up={up}"))
    }

    fn check(err: rdsys::rd_kafka_resp_err_t, what: &str) -> Result<()> {
        if err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(RuntimeError::Config(format!(
                "mock cluster refused to set {what}: {err:?}"
            )))
        }
    }
}
