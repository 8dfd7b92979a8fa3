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
pub(crate) struct Node {
    pub(crate) left: i32,
    pub(crate) right: i32,
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
                table: sigmoid_table(),
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

/// fastText's sigmoid table: `sigmoid(x)` at 513 points from -8 to 8.
pub(crate) fn sigmoid_table() -> Vec<f32> {
    (0..=SIGMOID_TABLE_SIZE)
        .map(|i| {
            let x = (i as f32 * 2.0 * MAX_SIGMOID) / SIGMOID_TABLE_SIZE as f32 - MAX_SIGMOID;
            (1.0 / (1.0 + f64::from((-x).exp()))) as f32
        })
        .collect()
}

/// Table lookup sigmoid, as fastText's `Loss::sigmoid`.
#[inline]
pub(crate) fn sigmoid(table: &[f32], x: f32) -> f32 {
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

/// The best `k` (log-probability, label) pairs, kept as fastText keeps them: a binary
/// heap with the worst pair on top, managed as libstdc++'s `push_heap`, `pop_heap` and
/// `sort_heap` do, so that equal scores come out in fastText's order.
#[derive(Debug, Default, Clone)]
pub(crate) struct TopK {
    k: usize,
    /// A heap while collecting; best first once [`TopK::finish`] has run.
    pub(crate) items: Vec<(f32, i32)>,
}

/// fastText's `comparePairs`, the heap's "less than": a higher score sorts first.
#[inline]
fn before(a: &(f32, i32), b: &(f32, i32)) -> bool {
    a.0 > b.0
}

impl TopK {
    fn reset(&mut self, k: usize) {
        self.k = k;
        self.items.clear();
    }

    /// fastText skips a candidate below the worst of a full heap.
    #[inline]
    fn would_reject(&self, score: f32) -> bool {
        self.items.len() == self.k && self.items.first().is_some_and(|w| score < w.0)
    }

    #[inline]
    fn offer(&mut self, score: f32, label: i32) {
        if self.would_reject(score) {
            return;
        }
        self.items.push((score, label));
        let last = self.items.len() - 1;
        push_up(&mut self.items, last, 0, (score, label));
        if self.items.len() > self.k {
            pop(&mut self.items);
            self.items.pop();
        }
    }

    /// `sort_heap`: best first.
    pub(crate) fn finish(&mut self) {
        let mut end = self.items.len();
        while end > 1 {
            pop(&mut self.items[..end]);
            end -= 1;
        }
    }
}

/// libstdc++'s `__push_heap`: moves `value` up from `hole` towards `top`.
fn push_up(heap: &mut [(f32, i32)], mut hole: usize, top: usize, value: (f32, i32)) {
    while hole > top {
        let parent = (hole - 1) / 2;
        if !before(&heap[parent], &value) {
            break;
        }
        heap[hole] = heap[parent];
        hole = parent;
    }
    heap[hole] = value;
}

/// libstdc++'s `pop_heap`: the top goes to the last place, the rest stays a heap.
fn pop(heap: &mut [(f32, i32)]) {
    let len = heap.len();
    if len < 2 {
        return;
    }
    let value = heap[len - 1];
    heap[len - 1] = heap[0];
    // `__adjust_heap` over the first len - 1 places, hole at the top.
    let n = len - 1;
    let mut hole = 0;
    let mut child = 0;
    while n > 0 && child < (n - 1) / 2 {
        child = 2 * (child + 1);
        if before(&heap[child], &heap[child - 1]) {
            child -= 1;
        }
        heap[hole] = heap[child];
        hole = child;
    }
    if n.is_multiple_of(2) && n >= 2 && child == (n - 2) / 2 {
        child = 2 * (child + 1);
        heap[hole] = heap[child - 1];
        hole = child - 1;
    }
    push_up(&mut heap[..n], hole, 0, value);
}

/// fastText's `buildTree`: leaves sorted by decreasing count, merged two at a time.
pub(crate) fn huffman(counts: &[i64]) -> Vec<Node> {
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
            // `node < i`: only merged nodes are candidates. fastText leaves that to the
            // sentinel count of unmerged ones, which a model file's counts can exceed
            // (found by fuzzing): then it would read past the tree. For counts below the
            // sentinel the choice is the same.
            if leaf >= 0 && (node >= i || count[leaf as usize] < count[node]) {
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
        assert!(heap.would_reject(-1.5));
        heap.finish();
        assert_eq!(heap.items, [(-0.5, 3), (-1.0, 1)]);
        // Equal scores: fastText lists the later label first (libstdc++'s heap order).
        heap.reset(5);
        heap.offer(-1.0, 0);
        heap.offer(-1.0, 1);
        heap.finish();
        assert_eq!(heap.items, [(-1.0, 1), (-1.0, 0)]);
        // Many entries come out sorted whatever order they went in.
        heap.reset(100);
        for i in 0..50 {
            heap.offer(-(((i * 37) % 50) as f32), i);
        }
        heap.finish();
        assert!(heap.items.windows(2).all(|w| w[0].0 >= w[1].0));
        assert_eq!(heap.items.len(), 50);
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
