//! The simulated account's dynamic labels, for `GET /clients/{id}/labels`.

use tc_core::wire::Label;

/// `(id, name, category, sub_category)`. The first id is the one of the documentation's example.
const LABELS: &[(&str, &str, &str, &str)] = &[
    (
        "c6d86658-008d-4c08-98fb-2bf2649d59a5",
        "Centro Bank KYC Department",
        "Banking",
        "KYC",
    ),
    (
        "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
        "Centro Bank Loans",
        "Banking",
        "Loans",
    ),
    (
        "6fa459ea-ee8a-4ca4-894e-db77e160355e",
        "Centro Bank Card Services",
        "Banking",
        "Cards",
    ),
    (
        "16fd2706-8baf-433b-82eb-8c7fada847da",
        "QuickShip Deliveries",
        "Logistics",
        "Delivery",
    ),
    (
        "886313e1-3b8a-4372-9b90-0c9aee199e5d",
        "QuickShip Returns",
        "Logistics",
        "Returns",
    ),
];

/// Every label of the simulated account, in the order the labels endpoint pages them.
pub fn demo_labels() -> Vec<Label> {
    LABELS
        .iter()
        .enumerate()
        .map(|(i, &(id, name, category, sub_category))| {
            let mut label = Label::default();
            label.id = id.to_owned();
            label.name = name.to_owned();
            label.label_type = Some("dynamic".to_owned());
            label.logo_url = Some(format!("https://example.com/logos/{id}.png"));
            label.category = Some(category.to_owned());
            label.sub_category = Some(sub_category.to_owned());
            label.created_by_email = Some("admin@example.com".to_owned());
            label.created_at = Some(format!("2025-07-{:02}T09:30:00Z", 1 + i));
            label
        })
        .collect()
}

/// Page `page` (1-based) of `limit` labels; a page past the end is empty.
pub(crate) fn page(page: usize, limit: usize) -> Vec<Label> {
    let skip = page.saturating_sub(1).saturating_mul(limit);
    demo_labels().into_iter().skip(skip).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_every_label_once() {
        let ids: Vec<String> = (1..=3).flat_map(|p| page(p, 2)).map(|l| l.id).collect();
        assert_eq!(ids.len(), LABELS.len());
        assert!(page(4, 2).is_empty());
        assert!(page(usize::MAX, usize::MAX).is_empty());
        assert!(demo_labels()
            .iter()
            .all(|l| uuid::Uuid::try_parse(&l.id).is_ok()));
    }
}
