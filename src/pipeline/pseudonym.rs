//! Keyed pseudonymization of learners: with `privacy.pseudonymize_key_file` set, the
//! `user_id` of the processed, aggregated and quality tiers is the lowercase hex
//! HMAC-SHA-256 of the original under the key. The same learner keeps one pseudonym across
//! datasets, days and instances (joins still work); without the key it cannot be
//! reversed or recomputed. The raw and quarantine tiers keep records as they came, under
//! their own (shorter) retention.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::record_batch::RecordBatch;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Shortest key accepted: the HMAC-SHA-256 block's worth of security needs 32 bytes.
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Clone)]
pub struct Pseudonymizer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log line.
        f.write_str("Pseudonymizer(<key>)")
    }
}

impl Pseudonymizer {
    pub fn new(key: &[u8]) -> Result<Self, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the key holds {} bytes; use at least {MIN_KEY_BYTES} random bytes (e.g. `head -c 32 /dev/urandom`)",
                key.len()
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
        Ok(Pseudonymizer { mac })
    }

    pub fn pseudonym(&self, user_id: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(user_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// `batch` with its `user_id` column replaced by pseudonyms (unchanged without one).
    pub fn apply(&self, batch: RecordBatch) -> anyhow::Result<RecordBatch> {
        let Ok(index) = batch.schema().index_of("user_id") else {
            return Ok(batch);
        };
        let ids = batch
            .column(index)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| anyhow::anyhow!("user_id is not a string column"))?;
        let pseudonyms: StringArray = ids
            .iter()
            .map(|id| id.map(|id| self.pseudonym(id)))
            .collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[index] = Arc::new(pseudonyms);
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn pseudonyms_are_stable_keyed_and_replace_only_user_id() {
        let p = Pseudonymizer::new(&[7u8; 32]).unwrap();
        let other = Pseudonymizer::new(&[8u8; 32]).unwrap();
        assert_eq!(p.pseudonym("user-0001"), p.pseudonym("user-0001"));
        assert_ne!(p.pseudonym("user-0001"), p.pseudonym("user-0002"));
        assert_ne!(p.pseudonym("user-0001"), other.pseudonym("user-0001"));
        assert_eq!(p.pseudonym("user-0001").len(), 64);

        let schema = Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("user_id", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["e1"])),
                Arc::new(StringArray::from(vec!["user-0001"])),
            ],
        )
        .unwrap();
        let out = p.apply(batch).unwrap();
        let col = |i: usize| {
            out.column(i)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .value(0)
                .to_string()
        };
        assert_eq!(col(0), "e1");
        assert_eq!(col(1), p.pseudonym("user-0001"));
        assert!(Pseudonymizer::new(b"short")
            .unwrap_err()
            .contains("at least 32"));
    }
}
