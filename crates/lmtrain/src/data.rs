//! Training windows from token shards: documents (each ending with its EOS) laid end to
//! end and cut into windows of `context + 1` tokens, visited in a seeded order that is
//! new each epoch. A position (windows served so far) is all a checkpoint needs to
//! continue the same order.

use candle_core::Device;

use crate::LmTrainError;
use crate::model::Batch;
use crate::rng::SplitMix;

/// Tokens laid end to end, with an optional loss mask (instruction tuning: 1 on the
/// assistant's tokens).
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// The token ids.
    pub tokens: Vec<u32>,
    /// 1 where a token is to be predicted; `None` predicts every token.
    pub mask: Option<Vec<u8>>,
    /// Documents in the stream.
    pub documents: usize,
}

impl Stream {
    /// Documents laid end to end.
    pub fn from_documents(documents: Vec<Vec<u32>>) -> Stream {
        let count = documents.len();
        Stream {
            tokens: documents.into_iter().flatten().collect(),
            mask: None,
            documents: count,
        }
    }

    /// Windows of `context` predicted tokens in the stream.
    pub fn windows(&self, context: usize) -> usize {
        self.tokens.len().saturating_sub(1) / context
    }

    /// Window `i`.
    pub fn window(&self, i: usize, context: usize) -> Window {
        let start = i * context;
        let inputs = self.tokens[start..start + context].to_vec();
        let targets = self.tokens[start + 1..start + context + 1].to_vec();
        let mask = match &self.mask {
            Some(m) => m[start + 1..start + context + 1].to_vec(),
            None => vec![1; context],
        };
        Window {
            inputs,
            targets,
            mask,
        }
    }

    /// A batch of the windows `which`.
    pub fn batch(
        &self,
        which: &[usize],
        context: usize,
        device: &Device,
    ) -> Result<Batch, LmTrainError> {
        let (mut inputs, mut targets, mut masks) = (vec![], vec![], vec![]);
        for &i in which {
            let window = self.window(i, context);
            inputs.push(window.inputs);
            targets.push(window.targets);
            masks.push(window.mask);
        }
        Batch::new(&inputs, &targets, Some(&masks), device)
    }
}

/// One window of a [`Stream`]: `context` tokens in and the `context` tokens that follow
/// each of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The input tokens.
    pub inputs: Vec<u32>,
    /// The token to predict after each input (the inputs shifted by one).
    pub targets: Vec<u32>,
    /// 1 where a target counts in the loss, 0 where it does not.
    pub mask: Vec<u8>,
}

/// Serves training batches in a seeded order, epoch after epoch.
pub struct Loader {
    stream: Stream,
    context: usize,
    rows: usize,
    seed: u64,
    epoch: usize,
    order: Vec<usize>,
    /// Windows served so far over all epochs.
    pub position: usize,
}

impl Loader {
    /// A loader of `rows` windows of `context` tokens per batch.
    pub fn new(
        stream: Stream,
        context: usize,
        rows: usize,
        seed: u64,
    ) -> Result<Loader, LmTrainError> {
        let windows = stream.windows(context);
        if windows == 0 {
            return Err(LmTrainError::Data(format!(
                "{} training tokens do not fill one window of {} tokens",
                stream.tokens.len(),
                context + 1
            )));
        }
        Ok(Loader {
            order: SplitMix::new(seed).permutation(windows),
            stream,
            context,
            rows,
            seed,
            epoch: 0,
            position: 0,
        })
    }

    /// Windows per epoch.
    pub fn windows(&self) -> usize {
        self.order.len()
    }

    /// Moves to `position` windows served (a resumed run).
    pub fn seek(&mut self, position: usize) {
        self.position = position;
        self.set_epoch(position / self.windows());
    }

    fn set_epoch(&mut self, epoch: usize) {
        if epoch != self.epoch {
            self.epoch = epoch;
            let seed = self.seed.wrapping_add(epoch as u64);
            self.order = SplitMix::new(seed).permutation(self.windows());
        }
    }

    /// The next batch.
    pub fn next_batch(&mut self, device: &Device) -> Result<Batch, LmTrainError> {
        let n = self.windows();
        let mut which = Vec::with_capacity(self.rows);
        for _ in 0..self.rows {
            self.set_epoch(self.position / n);
            which.push(self.order[self.position % n]);
            self.position += 1;
        }
        self.stream.batch(&which, self.context, device)
    }
}
