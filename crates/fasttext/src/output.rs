//! Output layers at prediction time: softmax, one sigmoid per label, or hierarchical
//! softmax over a Huffman tree of the labels.

use crate::args::LossKind;
use crate::matrix::Matrix;

const MAX_SIGMOID: f32 = 8.0;
const SIGMOID_TABLE_SIZE: usize = 512;

/// fastText's `std_log`: `log(x + 1e-5)` in double precision, rounded to `f32`.
#[inline]
pub(crate) fn std_log(x: f32) -> f32 {
    (f64::from(x) + 1e-5).ln() as f32
}

/// One node of the hierarchical softmax tree; leaves are the labels.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    left: i32,
    right: i32,
}

/// The output layer of a model.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Softmax over the rows of the output matrix.
    Softmax,
    /// A sigmoid per label, read from fastText's 512-entry table (losses `ns`, `ova`).
    Sigmoid {
        /// `sigmoid(x)` at 513 points from -8 to 8.
        table: Vec<f32>,
    },
    /// Hierarchical softmax: internal node `n` scores with output row `n - labels`.
    Hierarchical {
        /// The tree; nodes `0..labels` are leaves, the last node is the root.
        tree: Vec<(i32, i32)>,
    },
}

impl Output {
    /// The output layer for a loss, with the label counts a tree is built from.
    pub fn new(loss: LossKind, counts: &[i64]) -> Self {
        match loss {
            LossKind::Softmax => Output::Softmax,
            LossKind::NegativeSampling | LossKind::OneVsAll => Output::Sigmoid {
                table: (0..=SIGMOID_TABLE_SIZE)
                    .map(|i| {
                        let x = (i as f32 * 2.0 * MAX_SIGMOID) / SIGMOID_TABLE_SIZE as f32
                            - MAX_SIGMOID;
                        (1.0 / (1.0 + f64::from((-x).exp()))) as f32
                    })
                    .collect(),
            },
            LossKind::HierarchicalSoftmax => Output::Hierarchical {
                tree: huffman(counts)
                    .into_iter()
                    .map(|n| (n.left, n.right))
                    .collect(),
            },
        }
    }

    /// Fills `heap` with the best `k` (score, label) pairs whose probability reaches
    /// `threshold`, best first; scores are log-probabilities as fastText keeps them.
    pub(crate) fn predict(
        &self,
        wo: &Matrix,
        hidden: &[f32],
        k: usize,
        threshold: f32,
        scratch: &mut Vec<f32>,
        heap: &mut TopK,
    ) {
        heap.reset(k);
        if k == 0 {
            return;
        }
        match self {
            Output::Softmax => {
                scratch.clear();
                scratch.extend((0..wo.rows()).map(|i| wo.dot_row(hidden, i)));
                let max = scratch.iter().copied().fold(scratch[0], f32::max);
                let mut z = 0.0f32;
                for v in scratch.iter_mut() {
                    *v = (*v - max).exp();
                    z += *v;
                }
                for v in scratch.iter_mut() {
                    *v /= z;
                }
                k_best(scratch, threshold, heap);
            }
            Output::Sigmoid { table } => {
                scratch.clear();
                scratch.extend((0..wo.rows()).map(|i| sigmoid(table, wo.dot_row(hidden, i))));
                k_best(scratch, threshold, heap);
            }
            Output::Hierarchical { tree } => {
                let leaves = wo.rows() as i32;
                let root = tree.len() as i32 - 1;
                let search = Search {
                    tree,
                    wo,
                    hidden,
                    leaves,
                    floor: std_log(threshold),
                };
                search.dfs(root, 0.0, heap);
            }
        }
    }
}

/// Table lookup sigmoid, as fastText's `Loss::sigmoid`.
fn sigmoid(table: &[f32], x: f32) -> f32 {
    if x < -MAX_SIGMOID {
        0.0
    } else if x > MAX_SIGMOID {
        1.0
    } else {
        let i = ((x + MAX_SIGMOID) * SIGMOID_TABLE_SIZE as f32 / MAX_SIGMOID / 2.0) as usize;
        table[i]
    }
}

/// fastText's `findKBest` over per-label probabilities.
fn k_best(probs: &[f32], threshold: f32, heap: &mut TopK) {
    for (i, &p) in probs.iter().enumerate() {
        if p < threshold {
            continue;
        }
        heap.offer(std_log(p), i as i32);
    }
}

struct Search<'a> {
    tree: &'a [(i32, i32)],
    wo: &'a Matrix,
    hidden: &'a [f32],
    leaves: i32,
    floor: f32,
}

impl Search<'_> {
    /// fastText's `HierarchicalSoftmaxLoss::dfs`, with its rounding: the sigmoid is
    /// `1 / (1 + expf(-f))` in double, both branch scores go through `std_log`.
    fn dfs(&self, node: i32, score: f32, heap: &mut TopK) {
        if score < self.floor || heap.would_reject(score) {
            return;
        }
        let (left, right) = self.tree[node as usize];
        if left == -1 && right == -1 {
            heap.offer(score, node);
            return;
        }
        let f = self.wo.dot_row(self.hidden, (node - self.leaves) as usize);
        let f = (1.0 / f64::from(1.0 + (-f).exp())) as f32;
        self.dfs(left, score + std_log((1.0 - f64::from(f)) as f32), heap);
        self.dfs(right, score + std_log(f), heap);
    }
}

/// The best `k` (log-probability, label) pairs seen, best first.
#[derive(Debug, Default, Clone)]
pub(crate) struct TopK {
    k: usize,
    pub(crate) items: Vec<(f32, i32)>,
}

impl TopK {
    fn reset(&mut self, k: usize) {
        self.k = k;
        self.items.clear();
    }

    /// fastText skips a candidate below the worst of a full heap.
    #[inline]
    fn would_reject(&self, score: f32) -> bool {
        self.items.len() == self.k && self.items.last().is_some_and(|w| score < w.0)
    }

    #[inline]
    fn offer(&mut self, score: f32, label: i32) {
        if self.would_reject(score) {
            return;
        }
        let at = self.items.partition_point(|&(s, _)| s >= score);
        self.items.insert(at, (score, label));
        if self.items.len() > self.k {
            self.items.pop();
        }
    }
}

/// fastText's `buildTree`: leaves sorted by decreasing count, merged two at a time.
fn huffman(counts: &[i64]) -> Vec<Node> {
    let osz = counts.len();
    if osz == 0 {
        return Vec::new();
    }
    let mut tree = vec![
        Node {
            left: -1,
            right: -1
        };
        2 * osz - 1
    ];
    let mut count: Vec<i64> = vec![1_000_000_000_000_000; 2 * osz - 1];
    count[..osz].copy_from_slice(counts);
    let mut leaf = osz as i64 - 1;
    let mut node = osz;
    for i in osz..2 * osz - 1 {
        let mut mini = [0usize; 2];
        for m in &mut mini {
            if leaf >= 0 && count[leaf as usize] < count[node] {
                *m = leaf as usize;
                leaf -= 1;
            } else {
                *m = node;
                node += 1;
            }
        }
        tree[i] = Node {
            left: mini[0] as i32,
            right: mini[1] as i32,
        };
        count[i] = count[mini[0]] + count[mini[1]];
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huffman_pairs_the_rarest_first() {
        // Counts sorted decreasing as in a dictionary: 3 leaves, 2 internal nodes.
        let tree = huffman(&[5, 3, 2]);
        assert_eq!(tree.len(), 5);
        assert_eq!((tree[3].left, tree[3].right), (2, 1));
        // Leaf 0 and node 3 both count 5: a tie goes to the node, as in fastText.
        assert_eq!((tree[4].left, tree[4].right), (3, 0));
    }

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let mut heap = TopK::default();
        heap.reset(2);
        for (s, l) in [(-3.0, 0), (-1.0, 1), (-2.0, 2), (-0.5, 3)] {
            heap.offer(s, l);
        }
        assert_eq!(heap.items, [(-0.5, 3), (-1.0, 1)]);
        assert!(heap.would_reject(-1.5));
    }

    #[test]
    fn sigmoid_table_matches_the_function() {
        let Output::Sigmoid { table } = Output::new(LossKind::OneVsAll, &[]) else {
            unreachable!()
        };
        assert_eq!(table.len(), 513);
        assert_eq!(sigmoid(&table, 0.0), 0.5);
        assert_eq!(sigmoid(&table, -9.0), 0.0);
        assert_eq!(sigmoid(&table, 9.0), 1.0);
        assert!((sigmoid(&table, 2.0) - 0.880_797).abs() < 1e-3);
    }
}
