//! Keyset pages: how every listing of every store is cut. A page carries the cursor of the
//! next one, so page 10,000 costs what page 1 does.

/// The default page size of listings.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// The largest page a store returns.
pub const MAX_PAGE_SIZE: usize = 10_000;

/// A page of a keyset-paginated listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor for the next page, `None` on the last page.
    pub next: Option<u64>,
}

/// Clamps a requested page size into `1..=MAX_PAGE_SIZE`.
pub fn page_size(limit: usize) -> usize {
    if limit == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        limit.min(MAX_PAGE_SIZE)
    }
}

impl<T> Page<T> {
    /// An empty last page.
    pub fn empty() -> Self {
        Page {
            items: Vec::new(),
            next: None,
        }
    }

    /// The page of `items` read one past `limit` to learn whether more follow: the extra item
    /// is dropped and the last kept item's key (`key`) becomes the cursor. This is the paging
    /// step every backend's listing ends with.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> u64) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(&key)
        } else {
            None
        };
        Page { items, next }
    }
}
