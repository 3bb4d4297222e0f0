//! Packing validated records into requests: at most 500 each, all full but the last.

use crate::diagnostic::Diagnostic;
use crate::record::{CallRecord, NumberFormat};
use crate::rules::Code;
use crate::wire::CreateCallRecordsRequest;

/// The API's limit on records per request.
pub const MAX_BATCH_RECORDS: usize = 500;

/// The records of one create request: between 1 and [`MAX_BATCH_RECORDS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    records: Vec<CallRecord>,
}

/// A batch of the wrong size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// No record at all.
    #[error("a request must carry at least one call record")]
    Empty,
    #[error(
        "a request carries at most {MAX_BATCH_RECORDS} call records, this one has {0}; split it"
    )]
    /// More than [`MAX_BATCH_RECORDS`]; the count is given.
    TooLarge(usize),
}

impl BatchError {
    /// The rule broken: [`Code::BatchEmpty`] or [`Code::BatchTooLarge`].
    pub fn code(&self) -> Code {
        match self {
            BatchError::Empty => Code::BatchEmpty,
            BatchError::TooLarge(_) => Code::BatchTooLarge,
        }
    }

    /// The error as a diagnostic on the whole request.
    pub fn to_diagnostic(&self) -> Diagnostic {
        Diagnostic::new(None, self.code(), self.to_string())
    }
}

/// Checks the batch-size rule for a request of `len` records.
///
/// # Errors
///
/// [`BatchError::Empty`] for 0, [`BatchError::TooLarge`] above [`MAX_BATCH_RECORDS`].
pub fn check_batch_size(len: usize) -> Result<(), BatchError> {
    match len {
        0 => Err(BatchError::Empty),
        1..=MAX_BATCH_RECORDS => Ok(()),
        n => Err(BatchError::TooLarge(n)),
    }
}

impl Batch {
    /// A batch of `records`, in the order the API will number them.
    ///
    /// # Errors
    ///
    /// [`BatchError`] when there are none or more than [`MAX_BATCH_RECORDS`].
    pub fn new(records: Vec<CallRecord>) -> Result<Batch, BatchError> {
        check_batch_size(records.len())?;
        Ok(Batch { records })
    }

    /// The records, in order.
    pub fn records(&self) -> &[CallRecord] {
        &self.records
    }

    /// How many records: 1 to [`MAX_BATCH_RECORDS`].
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Always `false`: a batch holds at least one record.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The records, giving the batch up.
    pub fn into_records(self) -> Vec<CallRecord> {
        self.records
    }

    /// The request body for `POST /v2/clients/{id}/dynamic_call_records`.
    pub fn to_request(&self, format: NumberFormat) -> CreateCallRecordsRequest {
        CreateCallRecordsRequest {
            call_records: self.records.iter().map(|r| r.to_wire(format)).collect(),
        }
    }
}

/// Packs a stream of items into batches of `capacity`: every batch is full except possibly the
/// last. Push-based, so the caller decides when to read input and when to send.
#[derive(Debug)]
pub struct BatchPlanner<T> {
    capacity: usize,
    pending: Vec<T>,
}

impl<T> BatchPlanner<T> {
    /// A planner for full API batches of 500.
    pub fn new() -> Self {
        Self::with_capacity(MAX_BATCH_RECORDS)
    }

    /// Smaller batches, for tests and demos. The capacity is clamped to 1..=500.
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_BATCH_RECORDS);
        BatchPlanner {
            capacity,
            pending: Vec::with_capacity(capacity),
        }
    }

    /// Adds an item; returns a full batch when this item completes one.
    pub fn push(&mut self, item: T) -> Option<Vec<T>> {
        self.pending.push(item);
        (self.pending.len() == self.capacity)
            .then(|| std::mem::replace(&mut self.pending, Vec::with_capacity(self.capacity)))
    }

    /// The last, partial batch, if any items are left.
    pub fn finish(self) -> Option<Vec<T>> {
        (!self.pending.is_empty()).then_some(self.pending)
    }
}

impl TryFrom<Vec<CallRecord>> for Batch {
    type Error = BatchError;

    fn try_from(records: Vec<CallRecord>) -> Result<Batch, BatchError> {
        Batch::new(records)
    }
}

impl<T> Default for BatchPlanner<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_at_the_boundaries() {
        assert_eq!(check_batch_size(0), Err(BatchError::Empty));
        assert_eq!(check_batch_size(1), Ok(()));
        assert_eq!(check_batch_size(500), Ok(()));
        assert_eq!(check_batch_size(501), Err(BatchError::TooLarge(501)));
    }

    #[test]
    fn all_batches_full_but_the_last() {
        let mut planner = BatchPlanner::new();
        let mut sizes: Vec<usize> = (0..1201)
            .filter_map(|i| planner.push(i))
            .map(|b| b.len())
            .collect();
        sizes.extend(planner.finish().map(|b| b.len()));
        assert_eq!(sizes, [500, 500, 201]);
        let mut planner = BatchPlanner::with_capacity(2);
        assert_eq!(planner.push(1), None);
        assert_eq!(planner.push(2), Some(vec![1, 2]));
        assert_eq!(planner.push(3), None);
        assert_eq!(planner.finish(), Some(vec![3]));
    }
}
