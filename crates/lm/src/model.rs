//! The llama-family transformer: weights shared by every sequence, and a [`Session`] per
//! sequence holding its own KV cache.
//!
//! Written on candle's tensors rather than taken from `candle-transformers`, whose GGUF
//! models keep the KV cache inside the weights (one sequence per copy) and return the
//! last position's logits only: a server needs many sequences on one copy of the
//! weights, and checking an engine against llama.cpp needs every prompt position's
//! log-probabilities. Llama (and SmolLM, Mistral: same GGUF architecture) rotate adjacent
//! pairs; Qwen2 rotates halves (NeoX) and has biases on q, k and v, as llama.cpp reads
//! them.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use std::sync::Arc;

use crate::LmError;
use crate::gemv::Q8Matrix;
use crate::gguf::{GgufFile, Requantize};

/// The architectures this engine runs (GGUF's `general.architecture`).
pub const ARCHITECTURES: [&str; 2] = ["llama", "qwen2"];

/// A model's shape, from its GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `llama` or `qwen2`.
    pub architecture: String,
    /// Transformer blocks.
    pub layers: usize,
    /// Width of the residual stream.
    pub width: usize,
    /// Width of the feed-forward layer.
    pub ffn_width: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (fewer than `heads` for grouped-query attention).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Positions the model was trained for: the context limit.
    pub context: usize,
    /// RMS norm epsilon.
    pub rms_eps: f64,
    /// RoPE base frequency.
    pub rope_base: f64,
    /// Rotate halves (NeoX, Qwen2) rather than adjacent pairs (llama).
    pub rope_neox: bool,
    /// Vocabulary size (rows of the embedding).
    pub vocab: usize,
}

impl Config {
    /// Reads the shape of a llama-family model from GGUF metadata.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Config, LmError> {
        let architecture = gguf
            .string("general.architecture")?
            .ok_or_else(|| LmError::Metadata {
                path: gguf.path.clone(),
                key: "general.architecture".into(),
                message: "is missing".into(),
            })?
            .to_owned();
        if !ARCHITECTURES.contains(&architecture.as_str()) {
            return Err(LmError::Unsupported {
                path: gguf.path.clone(),
                what: format!(
                    "architecture `{architecture}`; this engine runs {}",
                    ARCHITECTURES.join(", ")
                ),
            });
        }
        let key = |k: &str| format!("{architecture}.{k}");
        let uint =
            |k: &str| -> Result<usize, LmError> { Ok(gguf.required_uint(&key(k))? as usize) };
        let width = uint("embedding_length")?;
        let heads = uint("attention.head_count")?;
        let kv_heads = gguf
            .uint(&key("attention.head_count_kv"))?
            .map_or(heads, |n| n as usize);
        let bad = |message: String| LmError::Metadata {
            path: gguf.path.clone(),
            key: key("attention.head_count"),
            message,
        };
        if heads == 0 || kv_heads == 0 || width % heads != 0 || heads % kv_heads != 0 {
            return Err(bad(format!(
                "{heads} heads, {kv_heads} key/value heads and width {width} do not fit \
                 together"
            )));
        }
        let head_dim = width / heads;
        if let Some(rot) = gguf.uint(&key("rope.dimension_count"))?
            && rot as usize != head_dim
        {
            return Err(LmError::Unsupported {
                path: gguf.path.clone(),
                what: format!("partial rotary embeddings ({rot} of {head_dim} dimensions)"),
            });
        }
        let vocab = match gguf.uint(&key("vocab_size"))? {
            Some(n) => n as usize,
            None => gguf
                .tensors()
                .find(|(name, _, _)| *name == "token_embd.weight")
                .ok_or_else(|| LmError::MissingTensor {
                    path: gguf.path.clone(),
                    name: "token_embd.weight".into(),
                })?
                .1
                .first()
                .copied()
                .ok_or_else(|| {
                    LmError::bad_file(&gguf.path, "tensor `token_embd.weight` has no dimensions")
                })?,
        };
        Ok(Config {
            layers: uint("block_count")?,
            width,
            ffn_width: uint("feed_forward_length")?,
            heads,
            kv_heads,
            head_dim,
            context: uint("context_length")?,
            rms_eps: gguf
                .float(&key("attention.layer_norm_rms_epsilon"))?
                .unwrap_or(1e-5),
            rope_base: gguf.float(&key("rope.freq_base"))?.unwrap_or(10_000.0),
            rope_neox: architecture == "qwen2",
            vocab,
            architecture,
        })
    }
}

/// Rows from which a CPU matrix product dequantizes the weights and multiplies in f32.
///
/// candle's quantized CPU kernels are tuned for one row (decoding) and, for prefill,
/// need a width that is a multiple of 256 (SmolLM's 576 is not); below that they take a
/// row-by-row path about three times slower than dequantizing the weight matrix (a few
/// MB, freed at once) and calling the f32 GEMM.
const DENSE_ROWS: usize = 8;

/// Largest matrix (in weights) the many-rows path dequantizes whole; larger ones (an
/// output head over a big vocabulary) are multiplied row by row instead.
const DENSE_WEIGHTS: usize = 1 << 22;

/// A weight matrix.
#[derive(Debug)]
enum Linear {
    /// Q8_0 on the CPU: this crate's one-row kernel ([`crate::gemv`]).
    Q8(Arc<Q8Matrix>),
    /// Any other type on the CPU: candle's kernels.
    Candle {
        matmul: QMatMul,
        tensor: Arc<QTensor>,
    },
    /// On a GPU: candle's kernels for the quantized type (or a dense matrix for float
    /// types).
    Device(QMatMul),
}

impl Linear {
    /// A matrix read on the CPU, kept there or moved to `device`.
    fn new(tensor: Arc<QTensor>, device: &Device) -> candle_core::Result<Linear> {
        if !device.is_cpu() {
            let dense = tensor.dequantize(&Device::Cpu)?;
            return Ok(Linear::Device(match tensor.dtype() {
                GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                    QMatMul::Tensor(dense.to_device(device)?)
                }
                dtype => QMatMul::from_qtensor(QTensor::quantize_onto(&dense, dtype, device)?)?,
            }));
        }
        if let Some(m) = Q8Matrix::from_qtensor(&tensor) {
            return Ok(Linear::Q8(Arc::new(m)));
        }
        Ok(Linear::Candle {
            matmul: QMatMul::from_arc(Arc::clone(&tensor))?,
            tensor,
        })
    }

    /// `x` (1, rows, k) times the transposed weights (n, k): (1, rows, n).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (_, rows, k) = x.dims3()?;
        match self {
            Linear::Q8(m) => {
                let n = m.rows();
                if rows >= DENSE_ROWS && n * k <= DENSE_WEIGHTS {
                    let mut w = vec![0f32; n * k];
                    for (r, row) in w.chunks_exact_mut(k).enumerate() {
                        m.row_into(r, row);
                    }
                    let w = Tensor::from_vec(w, (n, k), x.device())?;
                    return x.reshape((rows, k))?.matmul(&w.t()?)?.reshape((1, rows, n));
                }
                let xs: Vec<f32> = x.flatten_all()?.to_vec1()?;
                let mut out = vec![0f32; rows * n];
                for (x, o) in xs.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
                    m.gemv(x, o);
                }
                Tensor::from_vec(out, (1, rows, n), x.device())
            }
            Linear::Candle { matmul, tensor } => {
                if rows >= DENSE_ROWS && x.device().is_cpu() {
                    let w = tensor.dequantize(x.device())?;
                    let n = w.dim(0)?;
                    return x.reshape((rows, k))?.matmul(&w.t()?)?.reshape((1, rows, n));
                }
                matmul.forward(x)
            }
            Linear::Device(matmul) => matmul.forward(x),
        }
    }
}

/// The token embedding: rows of a weight matrix, looked up by token id.
#[derive(Debug)]
enum Embedding {
    Q8(Arc<Q8Matrix>),
    Candle(Arc<QTensor>),
    /// On a GPU: the dequantized table.
    Device(Tensor),
}

impl Embedding {
    /// The rows of `ids`: (1, ids, width).
    fn lookup(&self, ids: &[u32], device: &Device) -> candle_core::Result<Tensor> {
        match self {
            Embedding::Q8(m) => {
                let k = m.cols();
                let mut out = vec![0f32; ids.len() * k];
                for (&id, row) in ids.iter().zip(out.chunks_exact_mut(k)) {
                    m.row_into(id as usize, row);
                }
                Tensor::from_vec(out, (1, ids.len(), k), device)
            }
            Embedding::Candle(t) => t.embedding(&Tensor::new(ids, device)?)?.unsqueeze(0),
            Embedding::Device(t) => t.index_select(&Tensor::new(ids, device)?, 0)?.unsqueeze(0),
        }
    }
}

/// One transformer block's weights.
#[derive(Debug)]
struct Block {
    attn_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    q_bias: Option<Tensor>,
    k_bias: Option<Tensor>,
    v_bias: Option<Tensor>,
    o: Linear,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// A model's weights, loaded once and shared (behind an `Arc`) by every [`Session`].
#[derive(Debug)]
pub struct Weights {
    /// Its shape.
    pub config: Config,
    device: Device,
    embedding: Embedding,
    blocks: Vec<Block>,
    norm: Tensor,
    output: Linear,
    cos: Tensor,
    sin: Tensor,
}

impl Weights {
    /// Loads the weights of a GGUF model onto `device`, re-quantizing weight matrices to
    /// `requantize` if asked.
    pub fn load(
        gguf: &GgufFile,
        device: &Device,
        requantize: Option<Requantize>,
    ) -> Result<Weights, LmError> {
        let config = Config::from_gguf(gguf)?;
        let c = &config;
        let mut r = Loader {
            gguf,
            reader: gguf.reader()?,
            device,
            requantize,
        };
        let kv_width = c.kv_heads * c.head_dim;
        let mut blocks = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let p = format!("blk.{i}");
            let bias = |r: &mut Loader<'_>, name: &str, len: usize| {
                let name = format!("{p}.{name}.bias");
                if gguf.has_tensor(&name) {
                    r.vector(&name, len).map(Some)
                } else {
                    Ok(None)
                }
            };
            blocks.push(Block {
                attn_norm: r.vector(&format!("{p}.attn_norm.weight"), c.width)?,
                q: r.matrix(&format!("{p}.attn_q.weight"), c.width, c.width)?,
                k: r.matrix(&format!("{p}.attn_k.weight"), kv_width, c.width)?,
                v: r.matrix(&format!("{p}.attn_v.weight"), kv_width, c.width)?,
                q_bias: bias(&mut r, "attn_q", c.width)?,
                k_bias: bias(&mut r, "attn_k", kv_width)?,
                v_bias: bias(&mut r, "attn_v", kv_width)?,
                o: r.matrix(&format!("{p}.attn_output.weight"), c.width, c.width)?,
                ffn_norm: r.vector(&format!("{p}.ffn_norm.weight"), c.width)?,
                gate: r.matrix(&format!("{p}.ffn_gate.weight"), c.ffn_width, c.width)?,
                up: r.matrix(&format!("{p}.ffn_up.weight"), c.ffn_width, c.width)?,
                down: r.matrix(&format!("{p}.ffn_down.weight"), c.width, c.ffn_width)?,
            });
        }
        let norm = r.vector("output_norm.weight", c.width)?;
        let freq_factors = if gguf.has_tensor("rope_freqs.weight") {
            Some(r.vector("rope_freqs.weight", c.head_dim / 2)?)
        } else {
            None
        };
        let table = r.matrix("token_embd.weight", c.vocab, c.width)?;
        let embedding = match &table {
            Linear::Q8(m) => Embedding::Q8(Arc::clone(m)),
            Linear::Candle { tensor, .. } => Embedding::Candle(Arc::clone(tensor)),
            Linear::Device(_) => {
                let t = r.quantized("token_embd.weight", &[c.vocab, c.width])?;
                let dense = t
                    .dequantize(&Device::Cpu)
                    .and_then(|t| t.to_device(device))
                    .map_err(LmError::device)?;
                Embedding::Device(dense)
            }
        };
        let output = if gguf.has_tensor("output.weight") {
            r.matrix("output.weight", c.vocab, c.width)?
        } else {
            // Tied embeddings (SmolLM): the output head is the embedding matrix.
            table
        };
        let (cos, sin) = rope_tables(&config, freq_factors.as_ref(), device)?;
        Ok(Weights {
            config,
            device: device.clone(),
            embedding,
            blocks,
            norm,
            output,
            cos,
            sin,
        })
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

/// Reads a model's tensors, checking each one's shape against the metadata.
struct Loader<'a> {
    gguf: &'a GgufFile,
    reader: crate::gguf::TensorReader<'a>,
    device: &'a Device,
    requantize: Option<Requantize>,
}

impl Loader<'_> {
    /// A tensor as read (on the CPU), its shape checked.
    fn quantized(&mut self, name: &str, shape: &[usize]) -> Result<QTensor, LmError> {
        let t = self.reader.read(name, self.requantize)?;
        if t.shape().dims() != shape {
            return Err(LmError::bad_file(
                &self.gguf.path,
                format!(
                    "tensor `{name}` has shape {:?}; the metadata implies {shape:?}",
                    t.shape().dims()
                ),
            ));
        }
        Ok(t)
    }

    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<Linear, LmError> {
        let t = self.quantized(name, &[rows, cols])?;
        Linear::new(Arc::new(t), self.device)
            .map_err(|e| LmError::bad_file(&self.gguf.path, format!("tensor `{name}`: {e}")))
    }

    /// A norm, bias or frequency vector, in f32.
    fn vector(&mut self, name: &str, len: usize) -> Result<Tensor, LmError> {
        let t = self.reader.read(name, None)?;
        if t.shape().dims() != [len] {
            return Err(LmError::bad_file(
                &self.gguf.path,
                format!(
                    "tensor `{name}` has shape {:?}; the metadata implies [{len}]",
                    t.shape().dims()
                ),
            ));
        }
        t.dequantize(&Device::Cpu)
            .and_then(|t| t.to_device(self.device))
            .map_err(|e| LmError::bad_file(&self.gguf.path, e))
    }
}

/// RoPE's cosines and sines for every position of the context: `(context, head_dim / 2)`.
fn rope_tables(
    c: &Config,
    freq_factors: Option<&Tensor>,
    device: &Device,
) -> Result<(Tensor, Tensor), LmError> {
    let half = c.head_dim / 2;
    let factors: Vec<f32> = match freq_factors {
        Some(t) => t.to_vec1().map_err(LmError::device)?,
        None => vec![1.0; half],
    };
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| {
            let f = 1.0 / c.rope_base.powf(2.0 * i as f64 / c.head_dim as f64);
            (f / f64::from(factors[i])) as f32
        })
        .collect();
    let inv_freq = Tensor::from_vec(inv_freq, (1, half), device).map_err(LmError::device)?;
    let positions = Tensor::arange(0u32, c.context as u32, device)
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.reshape((c.context, 1)))
        .map_err(LmError::device)?;
    let angles = positions
        .broadcast_mul(&inv_freq)
        .map_err(LmError::device)?;
    Ok((
        angles.cos().map_err(LmError::device)?,
        angles.sin().map_err(LmError::device)?,
    ))
}

/// One forward pass at a time in the process. Every pass already uses all the compute
/// threads (candle's pool and its own kernels split each product among them), and that
/// pool's threads spin while they wait for each other: sequences computing at once would
/// oversubscribe the cores, and a spinning thread waiting for a preempted one wastes its
/// whole time slice (measured: 16 concurrent streams on 2 cores slowed to a crawl).
/// Taking turns per step, sequences interleave token by token instead.
static COMPUTE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One sequence being read or written: its KV cache and its tokens so far.
#[derive(Debug)]
pub struct Session {
    weights: Arc<Weights>,
    cache: Vec<Option<(Tensor, Tensor)>>,
    tokens: Vec<u32>,
}

impl Session {
    /// An empty sequence on shared weights.
    pub fn new(weights: Arc<Weights>) -> Session {
        let layers = weights.config.layers;
        Session {
            weights,
            cache: vec![None; layers],
            tokens: Vec::new(),
        }
    }

    /// The tokens fed so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Forgets the sequence (keeps the weights).
    pub fn reset(&mut self) {
        self.cache.iter_mut().for_each(|c| *c = None);
        self.tokens.clear();
    }

    /// Feeds tokens after those already fed and returns the logits: of every new
    /// position (`(n, vocab)`) when `all` is set, else of the last one (`(1, vocab)`).
    pub fn feed(&mut self, tokens: &[u32], all: bool) -> Result<Tensor, LmError> {
        let w = Arc::clone(&self.weights);
        let c = &w.config;
        let past = self.tokens.len();
        if tokens.is_empty() {
            return Err(LmError::Input("nothing to feed: no tokens".into()));
        }
        if past + tokens.len() > c.context {
            return Err(LmError::Context {
                prompt: past + tokens.len(),
                max_tokens: None,
                context: c.context,
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.vocab) {
            return Err(LmError::Input(format!(
                "token id {bad} is outside the vocabulary of {}",
                c.vocab
            )));
        }
        let logits = {
            let _turn = COMPUTE.lock().unwrap_or_else(|e| e.into_inner());
            self.forward(&w, tokens, past, all)
                .map_err(LmError::device)?
        };
        self.tokens.extend_from_slice(tokens);
        Ok(logits)
    }

    fn forward(
        &mut self,
        w: &Weights,
        tokens: &[u32],
        past: usize,
        all: bool,
    ) -> candle_core::Result<Tensor> {
        let c = &w.config;
        let n = tokens.len();
        let mut x = w.embedding.lookup(tokens, &w.device)?;
        let cos = w.cos.narrow(0, past, n)?;
        let sin = w.sin.narrow(0, past, n)?;
        let mask = if n > 1 {
            Some(causal_mask(n, past, &w.device)?)
        } else {
            None
        };
        let rep = c.heads / c.kv_heads;
        let scale = 1.0 / (c.head_dim as f64).sqrt();
        for (block, cache) in w.blocks.iter().zip(self.cache.iter_mut()) {
            let h = candle_nn::ops::rms_norm(&x, &block.attn_norm, c.rms_eps as f32)?;
            let project = |m: &Linear, bias: &Option<Tensor>, heads: usize| {
                let mut t = m.forward(&h)?;
                if let Some(b) = bias {
                    t = t.broadcast_add(b)?;
                }
                t.reshape((1, n, heads, c.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = project(&block.q, &block.q_bias, c.heads)?;
            let k = project(&block.k, &block.k_bias, c.kv_heads)?;
            let v = project(&block.v, &block.v_bias, c.kv_heads)?;
            let (q, k) = if c.rope_neox {
                (
                    candle_nn::rotary_emb::rope(&q, &cos, &sin)?,
                    candle_nn::rotary_emb::rope(&k, &cos, &sin)?,
                )
            } else {
                (
                    candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?,
                    candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?,
                )
            };
            let (k, v) = match cache.take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            *cache = Some((k.clone(), v.clone()));
            let total = past + n;
            // Grouped-query attention without copying keys: the `rep` query heads that
            // share a key/value head are stacked as rows of one matrix product.
            let q = q.reshape((c.kv_heads, rep * n, c.head_dim))?;
            let k = k.squeeze(0)?;
            let v = v.squeeze(0)?;
            let mut att = (q.matmul(&k.t()?)? * scale)?;
            if let Some(mask) = &mask {
                att = att
                    .reshape((c.kv_heads, rep, n, total))?
                    .broadcast_add(mask)?
                    .reshape((c.kv_heads, rep * n, total))?;
            }
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att
                .matmul(&v)?
                .reshape((1, c.heads, n, c.head_dim))?
                .transpose(1, 2)?
                .reshape((1, n, c.width))?;
            x = (x + block.o.forward(&y)?)?;
            let h = candle_nn::ops::rms_norm(&x, &block.ffn_norm, c.rms_eps as f32)?;
            let gate = candle_nn::ops::silu(&block.gate.forward(&h)?)?;
            let up = block.up.forward(&h)?;
            x = (x + block.down.forward(&(gate * up)?)?)?;
        }
        let x = if all { x } else { x.narrow(1, n - 1, 1)? };
        let x = candle_nn::ops::rms_norm(&x, &w.norm, c.rms_eps as f32)?;
        w.output.forward(&x)?.squeeze(0)?.to_dtype(DType::F32)
    }
}

/// The additive causal mask of `n` new positions after `past` cached ones: `(n, past+n)`.
fn causal_mask(n: usize, past: usize, device: &Device) -> candle_core::Result<Tensor> {
    let total = past + n;
    let mask: Vec<f32> = (0..n)
        .flat_map(|i| (0..total).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (n, total), device)
}

/// The log-softmax of one row of logits, in f64 for a stable sum.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let log_sum = sum.ln() as f32 + max;
    logits.iter().map(|&l| l - log_sum).collect()
}

/// Rows of a `(n, vocab)` logits tensor as vectors.
pub fn rows(logits: &Tensor) -> Result<Vec<Vec<f32>>, LmError> {
    logits
        .to_device(&Device::Cpu)
        .and_then(|t| t.to_vec2::<f32>())
        .map_err(LmError::device)
}
