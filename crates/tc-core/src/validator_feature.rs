//! With the `validator` feature: the wire bodies implement the `validator` crate's traits, so a
//! team that already validates its types with that crate can check a hand-built request with
//! `.validate()` and get this crate's rules, not a second copy of them.
//!
//! - [`Validate`] checks every rule that does not depend on the time: a body cannot say when it
//!   will be sent, so whether its window has passed is left out.
//! - [`ValidateArgs`] with a [`Validator`] checks every rule, the window's expiry against the
//!   validator's `now` included, and reads national numbers with its default region.
//!
//! Each [`Diagnostic`] becomes a `validator::ValidationError` on its field, whose code is the
//! rule's [`Code`](crate::Code) and whose message is the diagnostic's advice.

use crate::check_batch_size;
use crate::diagnostic::Diagnostic;
use crate::input::RawRecord;
use crate::timestamp::EpochMillis;
use crate::validate::Validator;
use crate::wire::{CallRecordBody, CreateCallRecordsRequest};
use validator::{Validate, ValidateArgs, ValidationError, ValidationErrors};

/// The key for a diagnostic about the whole record rather than one field.
const RECORD_KEY: &str = "record";

impl Validate for CallRecordBody {
    fn validate(&self) -> Result<(), ValidationErrors> {
        // The earliest time a record can hold: no window has passed at it, so every rule but
        // expiry applies.
        self.validate_with_args(&Validator::new(EpochMillis::MIN))
    }
}

impl<'a> ValidateArgs<'a> for CallRecordBody {
    type Args = &'a Validator;

    fn validate_with_args(&self, validator: &'a Validator) -> Result<(), ValidationErrors> {
        match validator.validate(&RawRecord::from(self)) {
            Ok(_) => Ok(()),
            Err(diagnostics) => {
                let mut errors = ValidationErrors::new();
                for diagnostic in diagnostics.iter() {
                    let key = diagnostic.field.map_or(RECORD_KEY, |f| f.wire_name());
                    errors.add(key, to_validation_error(diagnostic));
                }
                Err(errors)
            }
        }
    }
}

impl Validate for CreateCallRecordsRequest {
    fn validate(&self) -> Result<(), ValidationErrors> {
        self.validate_with_args(&Validator::new(EpochMillis::MIN))
    }
}

/// The batch's size (1 to 500 records), then each record, nested under `call_records` by index
/// as the `validator` crate nests a list.
impl<'a> ValidateArgs<'a> for CreateCallRecordsRequest {
    type Args = &'a Validator;

    fn validate_with_args(&self, validator: &'a Validator) -> Result<(), ValidationErrors> {
        let mut size = ValidationErrors::new();
        if let Err(error) = check_batch_size(self.call_records.len()) {
            size.add(
                "call_records",
                ValidationError::new(error.code().as_str()).with_message(error.to_string().into()),
            );
        }
        let parent = if size.is_empty() { Ok(()) } else { Err(size) };
        let records = self
            .call_records
            .iter()
            .map(|body| {
                let nested = body.validate_with_args(validator);
                ValidationErrors::merge(Ok(()), "call_records", nested)
            })
            .collect();
        ValidationErrors::merge_all(parent, "call_records", records)
    }
}

fn to_validation_error(diagnostic: &Diagnostic) -> ValidationError {
    ValidationError::new(diagnostic.code.as_str()).with_message(diagnostic.message.clone().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;
    use validator::ValidationErrorsKind;

    fn body(receiver: &str, ends_at: i64) -> CallRecordBody {
        CallRecordBody {
            caller_number: "+919876543210".into(),
            receiver_number: receiver.into(),
            dynamic_label_name: Some("Centro Bank".into()),
            dynamic_call_reason: None,
            label_id: None,
            starts_at: 1_911_178_800_000,
            ends_at,
        }
    }

    #[test]
    fn a_hand_built_request_gets_the_same_rules_and_codes() {
        assert!(body("+919876543211", 1_911_182_400_000).validate().is_ok());
        let errors = body("+91 98765", 1_911_182_400_000).validate().unwrap_err();
        let receiver = &errors.field_errors()["receiver_number"];
        assert_eq!(receiver[0].code, Code::PhoneTooShort.as_str());
        assert!(receiver[0].message.is_some());
    }

    #[test]
    fn expiry_needs_a_validator_with_the_time() {
        let passed = body("+919876543211", 1_911_182_400_000);
        assert!(passed.validate().is_ok());
        let later = Validator::new(EpochMillis::try_from(1_911_190_000_000).unwrap());
        let errors = passed.validate_with_args(&later).unwrap_err();
        assert_eq!(
            errors.field_errors()["ends_at"][0].code,
            Code::WindowExpired.as_str()
        );
    }

    #[test]
    fn a_request_nests_each_record_by_index_and_checks_its_size() {
        let request = CreateCallRecordsRequest {
            call_records: vec![
                body("+919876543211", 1_911_182_400_000),
                body("not a number", 1_911_182_400_000),
            ],
        };
        let errors = request.validate().unwrap_err();
        match &errors.errors()["call_records"] {
            ValidationErrorsKind::List(records) => {
                assert_eq!(records.keys().copied().collect::<Vec<_>>(), [1]);
            }
            other => panic!("expected a list of record errors, got {other:?}"),
        }
        let empty = CreateCallRecordsRequest {
            call_records: vec![],
        };
        let errors = empty.validate().unwrap_err();
        assert!(errors.field_errors().contains_key("call_records"));
    }
}
