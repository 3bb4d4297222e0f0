//! Reading the labels endpoint page after page: when the list is complete, and when a server
//! that keeps returning full pages is stopped.

/// The most pages read: a server that never returns a short page (it ignores paging) is
/// stopped here.
pub const MAX_LABEL_PAGES: usize = 10_000;

/// What to do after a page of labels came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextPage {
    /// Read this page next.
    Read(usize),
    /// The page was short: every label has been read.
    Done,
    /// [`MAX_LABEL_PAGES`] full pages came back: the server ignores paging, and the list is
    /// refused rather than read for ever.
    IgnoresPaging,
}

/// The first page to read (pages count from 1).
pub const FIRST_PAGE: usize = 1;

/// After page `page` came back with `got` labels, asked for `page_size` at most: a short page
/// ends the list; a full one asks for the next, up to [`MAX_LABEL_PAGES`].
pub fn after_page(page: usize, got: usize, page_size: usize) -> NextPage {
    if got < page_size {
        NextPage::Done
    } else if page >= MAX_LABEL_PAGES {
        NextPage::IgnoresPaging
    } else {
        NextPage::Read(page + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_page_ends_the_list_a_full_one_asks_for_the_next() {
        assert_eq!(after_page(FIRST_PAGE, 999, 1000), NextPage::Done);
        assert_eq!(after_page(FIRST_PAGE, 0, 1000), NextPage::Done);
        assert_eq!(after_page(FIRST_PAGE, 1000, 1000), NextPage::Read(2));
        // A server that sends more than asked is still on a full page.
        assert_eq!(after_page(7, 1001, 1000), NextPage::Read(8));
    }

    #[test]
    fn full_pages_stop_at_the_cap() {
        assert_eq!(
            after_page(MAX_LABEL_PAGES - 1, 10, 10),
            NextPage::Read(MAX_LABEL_PAGES)
        );
        assert_eq!(after_page(MAX_LABEL_PAGES, 10, 10), NextPage::IgnoresPaging);
        // The last page may still be short.
        assert_eq!(after_page(MAX_LABEL_PAGES, 9, 10), NextPage::Done);
    }
}
