//! Typed access to the columns of a query's answer (the tables themselves
//! are read through their row structs, [`crate::tables`]).
//!
//! [`Get`] finds a column by name and casts it to the type the caller
//! expects (DataFusion may hand back `Utf8View`, dictionary-encoded
//! strings or another timestamp unit), so a reader never panics on an
//! answer whose physical types differ from ours: an uncastable column is
//! an error naming it, a missing one reads as nulls.

use arrow_array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, TimeUnit};

use crate::Error;

/// The timestamp type of every time column: microseconds, UTC.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Typed access to the columns of a batch.
pub struct Get<'a> {
    batch: &'a RecordBatch,
    what: &'static str,
}

impl<'a> Get<'a> {
    pub fn new(batch: &'a RecordBatch, what: &'static str) -> Get<'a> {
        Get { batch, what }
    }

    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Column `name` as type `t`; a column the batch lacks reads as nulls.
    fn col(&self, name: &str, t: &DataType) -> Result<ArrayRef, Error> {
        let Some(a) = self.batch.column_by_name(name) else {
            return Ok(arrow_array::new_null_array(t, self.rows()));
        };
        if a.data_type() == t {
            return Ok(a.clone());
        }
        datafusion::arrow::compute::cast(a, t)
            .map_err(|e| Error::schema(format!("{}.{name}: {e}", self.what)))
    }

    pub fn ts(&self, name: &str) -> Result<Vec<Option<i64>>, Error> {
        let a = self.col(name, &ts_type())?;
        let a = a
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not a timestamp", self.what)))?;
        Ok(a.iter().collect())
    }

    pub fn str(&self, name: &str) -> Result<Vec<Option<String>>, Error> {
        let a = self.col(name, &DataType::Utf8)?;
        let a = a
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not a string", self.what)))?;
        Ok(a.iter().map(|s| s.map(str::to_string)).collect())
    }

    pub fn i64(&self, name: &str) -> Result<Vec<Option<i64>>, Error> {
        let a = self.col(name, &DataType::Int64)?;
        let a = a
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not an integer", self.what)))?;
        Ok(a.iter().collect())
    }
}
