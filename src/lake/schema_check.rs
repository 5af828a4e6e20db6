//! A file's Arrow schema against the contract's ([`super::datasets`]): names and types,
//! in order. Nullability and metadata are not compared: the writer's choice, not the
//! contract's.

use arrow::datatypes::{Schema, SchemaRef};
use parquet::file::metadata::ParquetMetaData;

/// The Arrow schema a Parquet footer declares (the embedded one when the writer stored it).
pub fn of_footer(metadata: &ParquetMetaData) -> anyhow::Result<Schema> {
    let file = metadata.file_metadata();
    Ok(parquet::arrow::parquet_to_arrow_schema(
        file.schema_descr(),
        file.key_value_metadata(),
    )?)
}

/// What differs, one line per column; empty when the file matches.
pub fn differences(actual: &Schema, expected: &SchemaRef) -> Vec<String> {
    let mut out = Vec::new();
    for (i, want) in expected.fields().iter().enumerate() {
        match actual.fields().get(i) {
            None => out.push(format!("column {} `{}` is missing", i + 1, want.name())),
            Some(got) if got.name() != want.name() => out.push(format!(
                "column {} is `{}`, the contract says `{}`",
                i + 1,
                got.name(),
                want.name()
            )),
            Some(got) if got.data_type() != want.data_type() => out.push(format!(
                "column `{}` is {}, the contract says {}",
                want.name(),
                got.data_type(),
                want.data_type()
            )),
            Some(_) => {}
        }
    }
    for extra in actual.fields().iter().skip(expected.fields().len()) {
        out.push(format!("column `{}` is not in the contract", extra.name()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field};
    use std::sync::Arc;

    #[test]
    fn names_types_and_extras_are_reported() {
        let expected = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, false),
            Field::new("b", DataType::Int64, false),
        ]));
        assert!(differences(&expected, &expected).is_empty());
        let nullable = Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Int64, true),
        ]);
        assert!(differences(&nullable, &expected).is_empty());
        let wrong = Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("c", DataType::Int64, false),
            Field::new("d", DataType::Int64, false),
        ]);
        let found = differences(&wrong, &expected);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("`a` is Int32"), "{found:?}");
        assert!(found[1].contains("`c`"), "{found:?}");
        assert!(found[2].contains("`d` is not in the contract"), "{found:?}");
        let short = Schema::new(vec![Field::new("a", DataType::Utf8, false)]);
        assert_eq!(
            differences(&short, &expected),
            vec!["column 2 `b` is missing"]
        );
    }
}
