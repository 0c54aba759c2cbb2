//! A short list of process ids taken from a table, so that a loop may change the table while it
//! walks them: up to eight are held inline, without an allocation.

use super::ProcessId;

/// How many ids are held without an allocation.
const INLINE: usize = 8;

/// Process ids in the order they were gathered.
#[derive(Clone, Debug)]
pub struct ProcessIds {
    len: usize,
    inline: [ProcessId; INLINE],
    spill: Vec<ProcessId>,
}

impl FromIterator<ProcessId> for ProcessIds {
    fn from_iter<I: IntoIterator<Item = ProcessId>>(iter: I) -> Self {
        let mut ids = ProcessIds {
            len: 0,
            inline: [ProcessId(0); INLINE],
            spill: Vec::new(),
        };
        for p in iter {
            if ids.len < INLINE {
                ids.inline[ids.len] = p;
            } else {
                if ids.spill.is_empty() {
                    ids.spill.extend_from_slice(&ids.inline);
                }
                ids.spill.push(p);
            }
            ids.len += 1;
        }
        ids
    }
}

impl ProcessIds {
    /// The ids, in order.
    pub fn as_slice(&self) -> &[ProcessId] {
        if self.len <= INLINE {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }
}

impl IntoIterator for ProcessIds {
    type Item = ProcessId;
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        IntoIter { ids: self, next: 0 }
    }
}

/// The ids of a [`ProcessIds`], by value.
pub struct IntoIter {
    ids: ProcessIds,
    next: usize,
}

impl Iterator for IntoIter {
    type Item = ProcessId;
    fn next(&mut self) -> Option<ProcessId> {
        let p = self.ids.as_slice().get(self.next).copied();
        self.next += 1;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_any_number_of_ids_in_order() {
        for n in [0u32, 1, 7, 8, 9, 20] {
            let ids: ProcessIds = (0..n).map(|i| ProcessId(i * 3)).collect();
            let want: Vec<ProcessId> = (0..n).map(|i| ProcessId(i * 3)).collect();
            assert_eq!(ids.as_slice(), &want[..], "{n} ids");
            assert_eq!(ids.into_iter().collect::<Vec<_>>(), want, "{n} ids");
        }
    }
}
