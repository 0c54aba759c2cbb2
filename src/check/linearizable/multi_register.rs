//! Knossos's `multi-register`: transactions of reads and writes over several registers,
//! applied atomically to one state that spans every key they touch. Keys never touched by a
//! common transaction are independent, so the reader splits them into groups.

use super::model::Model;

/// One step of a transaction, on a key's slot in its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Micro {
    /// Read a slot; `None` is a read whose value is unknown (Knossos: nil reads are legal).
    Read(u32, Option<u32>),
    /// Write an interned value.
    Write(u32, u32),
}

/// Whether a transaction's reads are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnOutput {
    /// It completed with these reads.
    Ok,
    /// It may or may not have happened (its reads constrain nothing).
    Unknown,
}

/// The model of one group of keys.
#[derive(Clone, Debug)]
pub struct MultiRegisterModel {
    /// The interned initial value of every key.
    pub initial: u32,
    /// The group's key names, by slot.
    pub keys: Vec<String>,
    /// Interned values, for descriptions.
    pub values: Vec<String>,
}

impl Model for MultiRegisterModel {
    type State = Vec<u32>;
    type Input = Vec<Micro>;
    type Output = TxnOutput;
    fn init(&self) -> Vec<u32> {
        vec![self.initial; self.keys.len()]
    }
    /// (knossos model.clj: MultiRegister step)
    fn step(&self, s: &Vec<u32>, txn: &Vec<Micro>, o: &TxnOutput) -> Option<Vec<u32>> {
        let mut next = s.clone();
        for m in txn {
            match *m {
                Micro::Read(slot, Some(v)) if *o == TxnOutput::Ok => {
                    if next[slot as usize] != v {
                        return None;
                    }
                }
                Micro::Read(..) => {}
                Micro::Write(slot, v) => next[slot as usize] = v,
            }
        }
        Some(next)
    }
    fn keeps_state(&self, txn: &Vec<Micro>, _: &TxnOutput) -> bool {
        txn.iter().all(|m| matches!(m, Micro::Read(..)))
    }
    fn describe(&self, txn: &Vec<Micro>, o: &TxnOutput) -> String {
        let parts: Vec<String> = txn
            .iter()
            .map(|m| match *m {
                Micro::Read(k, v) => format!(
                    "[:read :{} {}]",
                    self.keys[k as usize],
                    v.map_or("nil", |v| &self.values[v as usize])
                ),
                Micro::Write(k, v) => {
                    format!(
                        "[:write :{} {}]",
                        self.keys[k as usize], self.values[v as usize]
                    )
                }
            })
            .collect();
        let outcome = match o {
            TxnOutput::Ok => "ok",
            TxnOutput::Unknown => "?",
        };
        format!("txn [{}] -> {outcome}", parts.join(" "))
    }
}

/// Groups of keys that some transaction links, by union-find: `groups[i]` is the group of
/// key `i`, groups numbered in order of their smallest key.
pub fn group_keys(keys: usize, txns: &[Vec<usize>]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..keys).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for txn in txns {
        for w in txn.windows(2) {
            let (a, b) = (root(&mut parent, w[0]), root(&mut parent, w[1]));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut numbers = vec![usize::MAX; keys];
    let mut next = 0;
    (0..keys)
        .map(|k| {
            let r = root(&mut parent, k);
            if numbers[r] == usize::MAX {
                numbers[r] = next;
                next += 1;
            }
            numbers[r]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_the_whole_transaction_atomically() {
        let m = MultiRegisterModel {
            initial: 0,
            keys: vec!["x".into(), "y".into()],
            values: vec!["0".into(), "1".into()],
        };
        let write_both = vec![Micro::Write(0, 1), Micro::Write(1, 1)];
        let s = m.step(&vec![0, 0], &write_both, &TxnOutput::Ok).unwrap();
        let torn = vec![Micro::Read(0, Some(1)), Micro::Read(1, Some(0))];
        assert_eq!(m.step(&s, &torn, &TxnOutput::Ok), None);
        assert_eq!(m.step(&s, &torn, &TxnOutput::Unknown), Some(s.clone()));
        let nil_read = vec![Micro::Read(0, None)];
        assert_eq!(m.step(&s, &nil_read, &TxnOutput::Ok), Some(s));
    }

    #[test]
    fn keys_group_through_shared_transactions() {
        assert_eq!(group_keys(4, &[vec![2, 0], vec![3]]), vec![0, 1, 0, 2]);
        assert_eq!(group_keys(3, &[vec![0, 1], vec![1, 2]]), vec![0, 0, 0]);
    }
}
