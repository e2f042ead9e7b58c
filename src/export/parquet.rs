//! Parquet: the long format (one row per token, or per word) with typed columns ([`super::columns`]),
//! provenance as JSON in the file's key-value metadata (key `densi.provenance`), snappy compression.
//!
//! Rows of finished texts are buffered and written as a row group once [`ROW_GROUP_ROWS`] rows are
//! waiting (and at the end), so memory stays bounded whatever the corpus size. A row group ends with
//! a text: it holds at least [`ROW_GROUP_ROWS`] rows (but the last), and one text's rows are never split. The file is written
//! through [`super::AtomicFile`] like csv and json: complete or absent.

use std::io::{self, Write};
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use super::columns::{Column, Columns, Values};
use super::{Level, Provenance, Units};
use crate::metrics::TextScore;

/// Rows after which a row group is written (at the end of the text that reaches it): large enough
/// for good compression and fast scans, small enough (a few MiB buffered) to keep memory flat.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The key-value metadata key holding the provenance JSON.
pub const PROVENANCE_KEY: &str = "densi.provenance";

fn io_error(e: ParquetError) -> io::Error {
    io::Error::other(format!("parquet: {e}"))
}

/// The Parquet schema of `columns` (a message named `densi`).
fn schema(columns: &Columns) -> Result<Type, ParquetError> {
    let fields = columns
        .columns()
        .iter()
        .map(|c| {
            let (physical, logical) = match c.values {
                Values::Str(_) => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
                Values::Int(_) => (PhysicalType::INT64, None),
                Values::Float(_) => (PhysicalType::DOUBLE, None),
                Values::Bool(_) => (PhysicalType::BOOLEAN, None),
            };
            let repetition = if c.nullable() { Repetition::OPTIONAL } else { Repetition::REQUIRED };
            Type::primitive_type_builder(&c.name, physical)
                .with_repetition(repetition)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Type::group_type_builder("densi").with_fields(fields).build()
}

pub struct ParquetWriter<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    rows: Columns,
}

impl<W: Write + Send> ParquetWriter<W> {
    /// Writes the magic bytes; the schema and `provenance` go into the footer at [`finish`](Self::finish).
    pub fn new(out: W, level: Level, units: Units, provenance: &Provenance) -> io::Result<ParquetWriter<W>> {
        let rows = Columns::new(level, units);
        let provenance = serde_json::to_string(provenance)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("densi {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![KeyValue::new(PROVENANCE_KEY.to_string(), provenance)]))
            .build();
        let schema = Arc::new(schema(&rows).map_err(io_error)?);
        let writer = SerializedFileWriter::new(out, schema, Arc::new(props)).map_err(io_error)?;
        Ok(ParquetWriter { writer, rows })
    }

    /// Buffers one text's rows; writes a row group when enough are waiting.
    pub fn write_text(&mut self, text: &TextScore) -> io::Result<()> {
        self.rows.push(text);
        if self.rows.rows() >= ROW_GROUP_ROWS { self.flush_row_group() } else { Ok(()) }
    }

    fn flush_row_group(&mut self) -> io::Result<()> {
        if self.rows.rows() == 0 {
            return Ok(());
        }
        let mut group = self.writer.next_row_group().map_err(io_error)?;
        for column in self.rows.columns() {
            let mut writer = group
                .next_column()
                .map_err(io_error)?
                .ok_or_else(|| io::Error::other(format!("parquet: no column writer for `{}`", column.name)))?;
            write_column(&mut writer, column).map_err(io_error)?;
            writer.close().map_err(io_error)?;
        }
        group.close().map_err(io_error)?;
        self.rows.clear();
        Ok(())
    }

    /// Writes the last row group and the footer; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_row_group()?;
        self.writer.into_inner().map_err(io_error)
    }
}

/// Writes one column chunk: the present values, and definition levels (1 = present) when nullable.
fn write_column(
    writer: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    c: &Column,
) -> Result<(), ParquetError> {
    let defs: Option<Vec<i16>> = c.valid.as_ref().map(|v| v.iter().map(|&ok| ok as i16).collect());
    let keep = |i: usize| c.valid.as_ref().is_none_or(|v| v[i]);
    let defs = defs.as_deref();
    match &c.values {
        Values::Str(v) => {
            let present: Vec<ByteArray> =
                v.iter().enumerate().filter(|&(i, _)| keep(i)).map(|(_, s)| ByteArray::from(s.as_str())).collect();
            writer.typed::<ByteArrayType>().write_batch(&present, defs, None)?;
        }
        Values::Int(v) => {
            let present: Vec<i64> = v.iter().enumerate().filter(|&(i, _)| keep(i)).map(|(_, &x)| x).collect();
            writer.typed::<Int64Type>().write_batch(&present, defs, None)?;
        }
        Values::Float(v) => {
            let present: Vec<f64> = v.iter().enumerate().filter(|&(i, _)| keep(i)).map(|(_, &x)| x).collect();
            writer.typed::<DoubleType>().write_batch(&present, defs, None)?;
        }
        Values::Bool(v) => {
            writer.typed::<BoolType>().write_batch(v, defs, None)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    use super::*;
    use crate::export::columns::tests::text;
    use crate::metrics::BosPolicy;

    fn provenance() -> Provenance {
        Provenance {
            densi_version: "densi test".into(),
            model_path: "none".into(),
            model_format: "gguf".into(),
            model_sha256: "0".repeat(64),
            architecture: "llama".into(),
            parameters: 0,
            weight_dtype: "Q4_1".into(),
            tokenizer: "test".into(),
            backend: "cpu".into(),
            device: "test".into(),
            bos_policy: BosPolicy::None,
            bos_token: None,
            bos_token_text: None,
            window: 8,
            stride: 4,
            top_k: 1,
            units: "bits".into(),
            level: "token".into(),
            word_probability: Default::default(),
            date: "2026-12-06T00:00:00Z".into(),
        }
    }

    #[test]
    fn rows_types_nulls_row_groups_and_provenance_read_back() {
        let t = text();
        let mut w = ParquetWriter::new(Vec::new(), Level::Token, Units::Bits, &provenance()).unwrap();
        // Enough texts for two row groups: rows are written as texts finish, not all at the end.
        let texts = ROW_GROUP_ROWS / 2 + 1;
        for _ in 0..texts {
            w.write_text(&t).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows() as usize, 2 * texts);
        assert_eq!(meta.num_row_groups(), 2);
        assert_eq!(meta.row_group(0).num_rows() as usize, ROW_GROUP_ROWS);
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        let prov = kv.iter().find(|k| k.key == PROVENANCE_KEY).and_then(|k| k.value.clone()).unwrap();
        assert_eq!(prov, serde_json::to_string(&provenance()).unwrap());

        let names: Vec<String> =
            meta.file_metadata().schema_descr().columns().iter().map(|c| c.name().to_string()).collect();
        assert_eq!(names, crate::export::table::token_columns("bits"));
        let rows: Vec<Vec<(String, Field)>> = reader
            .get_row_iter(None)
            .unwrap()
            .take(2)
            .map(|r| r.unwrap().get_column_iter().map(|(n, f)| (n.clone(), f.clone())).collect())
            .collect();
        let get = |row: usize, name: &str| rows[row].iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(get(0, "text_id"), Field::Str("t,1".into()));
        assert_eq!(get(0, "token"), Field::Str("Hi".into()));
        assert_eq!(get(0, "surprisal_bits"), Field::Null);
        assert_eq!(get(0, "rank"), Field::Null);
        assert_eq!(get(0, "top1_token"), Field::Null);
        assert_eq!(get(0, "scored"), Field::Bool(false));
        assert_eq!(get(1, "token_index"), Field::Long(1));
        assert_eq!(get(1, "surprisal_bits"), Field::Double(3.25));
        assert_eq!(get(1, "rank"), Field::Long(4));
        assert_eq!(get(1, "top1_token"), Field::Str(" here".into()));
        assert_eq!(get(1, "scored"), Field::Bool(true));
    }
}
