//! A service's own code around tc-core: it holds appointments, not text rows, and has its own
//! error type. Nothing here reaches into tc-core's internals.

use std::fmt;
use std::time::{Duration, SystemTime};
use tc_core::{
    CallRecord, Diagnostic, EpochMillis, Region, RegionError, TimestampError, ValidationErrors,
    Validator,
};

/// What the service knows about a call it is about to place.
pub struct Appointment {
    pub branch_line: String,
    pub customer_mobile: String,
    pub bank: String,
    pub purpose: String,
    pub at: SystemTime,
}

/// The service's own error type.
#[derive(Debug)]
pub enum ServiceError {
    Config(RegionError),
    Clock(TimestampError),
    Invalid(ValidationErrors),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Config(_) => f.write_str("bad configuration"),
            ServiceError::Clock(_) => f.write_str("bad appointment time"),
            ServiceError::Invalid(_) => f.write_str("the call cannot be registered"),
        }
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServiceError::Config(e) => Some(e),
            ServiceError::Clock(e) => Some(e),
            ServiceError::Invalid(e) => Some(e),
        }
    }
}

impl From<RegionError> for ServiceError {
    fn from(e: RegionError) -> Self {
        ServiceError::Config(e)
    }
}

impl From<TimestampError> for ServiceError {
    fn from(e: TimestampError) -> Self {
        ServiceError::Clock(e)
    }
}

impl From<ValidationErrors> for ServiceError {
    fn from(e: ValidationErrors) -> Self {
        ServiceError::Invalid(e)
    }
}

/// The caller ID shows from 15 minutes before the appointment to an hour after it.
pub fn register(
    appointment: &Appointment,
    now: SystemTime,
    region: &str,
) -> Result<CallRecord, ServiceError> {
    let region: Region = region.parse()?;
    let validator = Validator::new(EpochMillis::try_from(now)?).with_default_region(region);
    let starts_at = EpochMillis::try_from(appointment.at - Duration::from_secs(15 * 60))?;
    let ends_at = EpochMillis::try_from(appointment.at + Duration::from_secs(60 * 60))?;
    let record = CallRecord::builder(
        &appointment.branch_line,
        &appointment.customer_mobile,
        starts_at,
        ends_at,
    )
    .label_name(&appointment.bank)
    .call_reason(&appointment.purpose)
    .build(&validator)?;
    Ok(record)
}

/// What the service stores about a refused call, and reads back later.
pub fn problems_as_json(errors: &ValidationErrors) -> String {
    serde_json::to_string(errors).expect("diagnostics serialise")
}

pub fn problems_from_json(json: &str) -> serde_json::Result<Vec<Diagnostic>> {
    serde_json::from_str(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tc_core::{Code, Field};

    fn appointment(customer: &str, purpose: &str) -> (Appointment, SystemTime) {
        // 2030-07-25T04:30:00Z, and the service runs an hour before.
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_911_184_200_000);
        let appointment = Appointment {
            branch_line: "+91 22 6160 6161".into(),
            customer_mobile: customer.into(),
            bank: "Centro Bank".into(),
            purpose: purpose.into(),
            at,
        };
        (appointment, at - Duration::from_secs(3600))
    }

    #[test]
    fn a_valid_appointment_becomes_a_sendable_record() {
        let (appointment, now) = appointment("098765 43210", "Your home loan appointment");
        let record = register(&appointment, now, "IN").unwrap();
        assert_eq!(record.receiver_number().as_str(), "+919876543210");
        assert_eq!(record.caller_number().as_str(), "+912261606161");
        assert_eq!(
            record.ends_at().as_i64() - record.starts_at().as_i64(),
            75 * 60_000
        );
        let wire = serde_json::to_value(record.to_wire(Default::default())).unwrap();
        assert_eq!(wire["receiver_number"], "+919876543210");
    }

    #[test]
    fn problems_travel_through_the_services_error_type_and_json() {
        let (appointment, now) = appointment("12345", "loan!");
        let error = register(&appointment, now, "IN").unwrap_err();
        let ServiceError::Invalid(errors) = &error else {
            panic!("expected validation errors, got {error:?}");
        };
        let codes: Vec<(Option<Field>, Code)> = errors.iter().map(|d| (d.field, d.code)).collect();
        assert_eq!(
            codes,
            [
                (Some(Field::ReceiverNumber), Code::PhoneTooShort),
                (Some(Field::DynamicCallReason), Code::CallReasonTooShort),
                (
                    Some(Field::DynamicCallReason),
                    Code::CallReasonForbiddenCharacter
                ),
            ]
        );
        // The error chain reaches the diagnostics.
        let source = std::error::Error::source(&error).unwrap();
        assert!(source.to_string().contains("receiver_number"), "{source}");

        let stored = problems_as_json(errors);
        let read_back = problems_from_json(&stored).unwrap();
        assert_eq!(read_back, errors.to_vec());
    }

    #[test]
    fn configuration_and_clock_errors_map_too() {
        let (appointment, now) = appointment("098765 43210", "Your home loan appointment");
        assert!(matches!(
            register(&appointment, now, "ZZ"),
            Err(ServiceError::Config(_))
        ));
        let before_1973 = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
        assert!(matches!(
            register(&appointment, before_1973, "IN"),
            Err(ServiceError::Clock(_))
        ));
    }
}
