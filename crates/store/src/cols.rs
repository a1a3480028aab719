//! Small helpers that turn row values into Arrow columns and back.
//!
//! Writing goes through [`Cols`], which pairs each column with its field so
//! a table's schema is defined in one place (its `*_batch` function).
//! Reading goes through [`Get`], which finds a column by name and casts it
//! to the type the reader expects (DataFusion may hand back `Utf8View` or
//! dictionary-encoded strings), so a reader never panics on a file whose
//! physical types differ from ours: an uncastable column is an error
//! naming the column, a missing one reads as nulls (a file written before
//! the column was added to its table).

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, ListArray,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::Error;

/// The timestamp type of every time column: microseconds, UTC.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

/// Columns under construction, with their fields.
#[derive(Default)]
pub struct Cols {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Cols {
    pub fn new() -> Cols {
        Cols::default()
    }

    fn push(&mut self, name: &str, nullable: bool, a: ArrayRef) {
        self.fields
            .push(Field::new(name, a.data_type().clone(), nullable));
        self.arrays.push(a);
    }

    pub fn ts(&mut self, name: &str, v: impl IntoIterator<Item = Option<i64>>) {
        let a =
            TimestampMicrosecondArray::from(v.into_iter().collect::<Vec<_>>()).with_timezone("UTC");
        self.push(name, true, Arc::new(a));
    }

    pub fn str<'a>(&mut self, name: &str, v: impl IntoIterator<Item = Option<&'a str>>) {
        let a: StringArray = v.into_iter().collect();
        self.push(name, true, Arc::new(a));
    }

    pub fn i64(&mut self, name: &str, v: impl IntoIterator<Item = Option<i64>>) {
        let a: Int64Array = v.into_iter().collect();
        self.push(name, true, Arc::new(a));
    }

    pub fn i32(&mut self, name: &str, v: impl IntoIterator<Item = Option<i32>>) {
        let a: Int32Array = v.into_iter().collect();
        self.push(name, true, Arc::new(a));
    }

    pub fn f64(&mut self, name: &str, v: impl IntoIterator<Item = Option<f64>>) {
        let a: Float64Array = v.into_iter().collect();
        self.push(name, true, Arc::new(a));
    }

    pub fn bool(&mut self, name: &str, v: impl IntoIterator<Item = Option<bool>>) {
        let a: BooleanArray = v.into_iter().collect();
        self.push(name, true, Arc::new(a));
    }

    pub fn bin<'a>(&mut self, name: &str, v: impl IntoIterator<Item = Option<&'a [u8]>>) {
        let mut b = BinaryBuilder::new();
        for x in v {
            b.append_option(x);
        }
        self.push(name, true, Arc::new(b.finish()));
    }

    /// A list of strings (Zeek's `set[string]`/`vector of string`).
    pub fn strs<I, S>(&mut self, name: &str, v: impl IntoIterator<Item = I>)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut b = ListBuilder::new(StringBuilder::new());
        for row in v {
            for s in row {
                b.values().append_value(s.as_ref());
            }
            b.append(true);
        }
        let a = b.finish();
        let a = ListArray::new(
            Arc::new(Field::new("item", DataType::Utf8, true)),
            a.offsets().clone(),
            a.values().clone(),
            None,
        );
        self.push(name, false, Arc::new(a));
    }

    /// A list of integers.
    pub fn i64s<I>(&mut self, name: &str, v: impl IntoIterator<Item = I>)
    where
        I: IntoIterator<Item = i64>,
    {
        let mut b = ListBuilder::new(Int64Builder::new());
        for row in v {
            for x in row {
                b.values().append_value(x);
            }
            b.append(true);
        }
        let a = b.finish();
        let a = ListArray::new(
            Arc::new(Field::new("item", DataType::Int64, true)),
            a.offsets().clone(),
            a.values().clone(),
            None,
        );
        self.push(name, false, Arc::new(a));
    }

    pub fn finish(self) -> Result<RecordBatch, Error> {
        let schema = Arc::new(Schema::new(self.fields));
        RecordBatch::try_new(schema, self.arrays).map_err(|e| Error::arrow(e.to_string()))
    }
}

/// Typed access to the columns of a batch read back.
pub struct Get<'a> {
    batch: &'a RecordBatch,
    table: &'static str,
}

fn cast_to(a: &ArrayRef, t: &DataType) -> Result<ArrayRef, String> {
    if a.data_type() == t {
        return Ok(a.clone());
    }
    datafusion::arrow::compute::cast(a, t).map_err(|e| e.to_string())
}

impl<'a> Get<'a> {
    pub fn new(batch: &'a RecordBatch, table: &'static str) -> Get<'a> {
        Get { batch, table }
    }

    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Column `name` as type `t`. A column the batch does not have reads
    /// as nulls: a file written before the column was added to its table
    /// (schema evolution), as every Delta reader does.
    fn col(&self, name: &str, t: &DataType) -> Result<ArrayRef, Error> {
        let Some(a) = self.batch.column_by_name(name) else {
            return Ok(arrow_array::new_null_array(t, self.rows()));
        };
        cast_to(a, t).map_err(|e| Error::schema(format!("{}.{name}: {e}", self.table)))
    }

    pub fn ts(&self, name: &str) -> Result<Vec<Option<i64>>, Error> {
        let a = self.col(name, &ts_type())?;
        let a = a
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not a timestamp", self.table)))?;
        Ok(a.iter().collect())
    }

    pub fn str(&self, name: &str) -> Result<Vec<Option<String>>, Error> {
        let a = self.col(name, &DataType::Utf8)?;
        let a = a
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not a string", self.table)))?;
        Ok(a.iter().map(|s| s.map(str::to_string)).collect())
    }

    pub fn i64(&self, name: &str) -> Result<Vec<Option<i64>>, Error> {
        let a = self.col(name, &DataType::Int64)?;
        let a = a
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not an integer", self.table)))?;
        Ok(a.iter().collect())
    }

    pub fn f64(&self, name: &str) -> Result<Vec<Option<f64>>, Error> {
        let a = self.col(name, &DataType::Float64)?;
        let a = a
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not a float", self.table)))?;
        Ok(a.iter().collect())
    }

    pub fn bool(&self, name: &str) -> Result<Vec<Option<bool>>, Error> {
        let a = self.col(name, &DataType::Boolean)?;
        let a = a
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not a boolean", self.table)))?;
        Ok(a.iter().collect())
    }

    pub fn bin(&self, name: &str) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let a = self.col(name, &DataType::Binary)?;
        let a = a
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not binary", self.table)))?;
        Ok(a.iter().map(|s| s.map(<[u8]>::to_vec)).collect())
    }

    pub fn strs(&self, name: &str) -> Result<Vec<Vec<String>>, Error> {
        self.lists(name, DataType::Utf8, "strings", |v| {
            v.as_any()
                .downcast_ref::<StringArray>()
                .map(|v| v.iter().flatten().map(str::to_string).collect())
        })
    }

    pub fn i64s(&self, name: &str) -> Result<Vec<Vec<i64>>, Error> {
        self.lists(name, DataType::Int64, "integers", |v| {
            v.as_any()
                .downcast_ref::<Int64Array>()
                .map(|v| v.iter().flatten().collect())
        })
    }

    /// A list column, each list's items read by `items` (`None`: not of
    /// the `item` type); a null list is empty.
    fn lists<T>(
        &self,
        name: &str,
        item: DataType,
        what: &str,
        items: impl Fn(&ArrayRef) -> Option<Vec<T>>,
    ) -> Result<Vec<Vec<T>>, Error> {
        let a = self.col(name, &list_of(item))?;
        let a = a
            .as_any()
            .downcast_ref::<ListArray>()
            .ok_or_else(|| Error::schema(format!("{}.{name}: not a list", self.table)))?;
        let mut out = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            if a.is_null(i) {
                out.push(Vec::new());
                continue;
            }
            out.push(
                items(&a.value(i))
                    .ok_or_else(|| Error::schema(format!("{}.{name}: not {what}", self.table)))?,
            );
        }
        Ok(out)
    }
}
