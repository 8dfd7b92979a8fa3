//! GGUF files: what a model file says about itself, its tensors (optionally
//! re-quantized as they load), and writing one back.
//!
//! Reading the container is candle's (`gguf_file`, which bounds every length by the file
//! size); this module turns its metadata into typed settings with errors that name the
//! file and the key.

use atelier_core::atomic::AtomicFile;
use candle_core::Device;
use candle_core::quantized::gguf_file::{self, Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::LmError;

/// The quantization a tensor may be re-quantized to as it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requantize {
    /// 8-bit blocks of 32 (`q8_0`): candle's fastest CPU path for small models.
    Q8_0,
    /// 4-bit K-quant (`q4_k`): smaller, with candle's repacked x86 kernels.
    Q4K,
    /// Half precision floats (`f16`).
    F16,
}

impl Requantize {
    /// Parses `q8_0`, `q4_k` or `f16` (case-insensitive).
    pub fn parse(name: &str) -> Result<Requantize, String> {
        match name.to_ascii_lowercase().as_str() {
            "q8_0" => Ok(Requantize::Q8_0),
            "q4_k" | "q4_k_m" => Ok(Requantize::Q4K),
            "f16" => Ok(Requantize::F16),
            other => Err(format!(
                "unknown quantization `{other}`: use q8_0, q4_k or f16"
            )),
        }
    }

    fn dtype(self) -> GgmlDType {
        match self {
            Requantize::Q8_0 => GgmlDType::Q8_0,
            Requantize::Q4K => GgmlDType::Q4K,
            Requantize::F16 => GgmlDType::F16,
        }
    }
}

/// A GGUF file's header: metadata and tensor directory, without the tensor data.
#[derive(Debug)]
pub struct GgufFile {
    /// The file.
    pub path: PathBuf,
    content: Content,
}

/// What kind of value a metadata entry holds, for error messages.
fn value_type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Bool(_) => "a boolean",
        Value::F32(_) | Value::F64(_) => "a float",
        _ => "an integer",
    }
}

impl GgufFile {
    /// Reads the header of a GGUF file.
    pub fn open(path: &Path) -> Result<GgufFile, LmError> {
        let mut file = std::fs::File::open(path).map_err(|source| LmError::Io {
            path: path.to_path_buf(),
            error: source,
        })?;
        // candle's reader panics on some headers (found by fuzzing: an alignment of 0
        // divides by zero): a panic there is this file's error, not ours.
        let content =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Content::read(&mut file)))
                .map_err(|panic| {
                    let why = crate::panic_message(panic.as_ref());
                    LmError::bad_file(path, format!("candle failed to read its header: {why}"))
                })?
                .map_err(|e| LmError::bad_file(path, e))?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            content,
        })
    }

    /// The raw metadata.
    pub fn metadata(&self) -> &HashMap<String, Value> {
        &self.content.metadata
    }

    /// A metadata value, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> LmError {
        LmError::Metadata {
            path: self.path.clone(),
            key: key.to_owned(),
            message: format!("is {}, not {want}", value_type_name(got)),
        }
    }

    /// A required metadata value.
    fn required(&self, key: &str) -> Result<&Value, LmError> {
        self.get(key).ok_or_else(|| LmError::Metadata {
            path: self.path.clone(),
            key: key.to_owned(),
            message: "is missing".into(),
        })
    }

    /// A string value.
    pub fn string(&self, key: &str) -> Result<Option<&str>, LmError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    /// An unsigned integer value (any integer width).
    pub fn uint(&self, key: &str) -> Result<Option<u64>, LmError> {
        let v = match self.get(key) {
            None => return Ok(None),
            Some(v) => v,
        };
        let n = match *v {
            Value::U8(n) => Some(u64::from(n)),
            Value::U16(n) => Some(u64::from(n)),
            Value::U32(n) => Some(u64::from(n)),
            Value::U64(n) => Some(n),
            Value::I8(n) => u64::try_from(n).ok(),
            Value::I16(n) => u64::try_from(n).ok(),
            Value::I32(n) => u64::try_from(n).ok(),
            Value::I64(n) => u64::try_from(n).ok(),
            _ => None,
        };
        n.map(Some)
            .ok_or_else(|| self.wrong(key, "a non-negative integer", v))
    }

    /// A required unsigned integer.
    pub fn required_uint(&self, key: &str) -> Result<u64, LmError> {
        self.required(key)?;
        Ok(self.uint(key)?.expect("checked present"))
    }

    /// A float value.
    pub fn float(&self, key: &str) -> Result<Option<f64>, LmError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::F32(x)) => Ok(Some(f64::from(*x))),
            Some(Value::F64(x)) => Ok(Some(*x)),
            Some(v) => Err(self.wrong(key, "a float", v)),
        }
    }

    /// A boolean value.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, LmError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, "a boolean", v)),
        }
    }

    /// An array of strings.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<&str>>, LmError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = v else {
            return Err(self.wrong(key, "an array of strings", v));
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.as_str()),
                other => Err(self.wrong(key, "an array of strings", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An array of integers (token types).
    pub fn ints(&self, key: &str) -> Result<Option<Vec<i64>>, LmError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = v else {
            return Err(self.wrong(key, "an array of integers", v));
        };
        items
            .iter()
            .map(|item| match *item {
                Value::I32(n) => Ok(i64::from(n)),
                Value::U32(n) => Ok(i64::from(n)),
                Value::I64(n) => Ok(n),
                Value::U8(n) => Ok(i64::from(n)),
                Value::I8(n) => Ok(i64::from(n)),
                Value::U16(n) => Ok(i64::from(n)),
                Value::I16(n) => Ok(i64::from(n)),
                ref other => Err(self.wrong(key, "an array of integers", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An array of floats (SentencePiece scores).
    pub fn floats(&self, key: &str) -> Result<Option<Vec<f32>>, LmError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = v else {
            return Err(self.wrong(key, "an array of floats", v));
        };
        items
            .iter()
            .map(|item| match *item {
                Value::F32(x) => Ok(x),
                Value::F64(x) => Ok(x as f32),
                ref other => Err(self.wrong(key, "an array of floats", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Whether the file has a tensor of this name.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// The tensors' names, shapes (rows last, as candle reads them) and types.
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &[usize], GgmlDType)> {
        self.content
            .tensor_infos
            .iter()
            .map(|(name, info)| (name.as_str(), info.shape.dims(), info.ggml_dtype))
    }

    /// The number of weights in all tensors.
    pub fn parameters(&self) -> u64 {
        self.content
            .tensor_infos
            .values()
            .map(|i| i.shape.elem_count() as u64)
            .sum()
    }

    /// The most common tensor type among the weight matrices, by weights (what the file
    /// is "quantized as").
    pub fn quantization(&self) -> String {
        let mut by_type: HashMap<String, u64> = HashMap::new();
        for info in self.content.tensor_infos.values() {
            if info.shape.rank() == 2 {
                *by_type.entry(format!("{:?}", info.ggml_dtype)).or_default() +=
                    info.shape.elem_count() as u64;
            }
        }
        let mut types: Vec<_> = by_type.into_iter().collect();
        types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        types
            .first()
            .map(|(t, _)| t.to_ascii_lowercase())
            .unwrap_or_else(|| "none".into())
    }

    /// Opens the file for tensor reads.
    pub fn reader(&self) -> Result<TensorReader<'_>, LmError> {
        let file = std::fs::File::open(&self.path).map_err(|source| LmError::Io {
            path: self.path.clone(),
            error: source,
        })?;
        Ok(TensorReader {
            gguf: self,
            file: std::io::BufReader::new(file),
        })
    }
}

/// Reads tensors of one GGUF file.
pub struct TensorReader<'a> {
    gguf: &'a GgufFile,
    file: std::io::BufReader<std::fs::File>,
}

impl TensorReader<'_> {
    /// A tensor as stored, or re-quantized to `requantize` when it is a weight matrix
    /// whose rows fit that type's blocks (norms and biases stay as they are); in the
    /// CPU's memory.
    pub fn read(&mut self, name: &str, requantize: Option<Requantize>) -> Result<QTensor, LmError> {
        let path = &self.gguf.path;
        if !self.gguf.has_tensor(name) {
            return Err(LmError::MissingTensor {
                path: path.clone(),
                name: name.to_owned(),
            });
        }
        let tensor = self
            .gguf
            .content
            .tensor(&mut self.file, name, &Device::Cpu)
            .map_err(|e| LmError::bad_file(path, format!("tensor `{name}`: {e}")))?;
        let tensor = match requantize {
            Some(to)
                if tensor.rank() == 2
                    && tensor.dtype() != to.dtype()
                    && tensor.shape().dims()[1] % to.dtype().block_size() == 0 =>
            {
                let dense = tensor
                    .dequantize(&Device::Cpu)
                    .map_err(|e| LmError::bad_file(path, format!("tensor `{name}`: {e}")))?;
                QTensor::quantize(&dense, to.dtype())
                    .map_err(|e| LmError::bad_file(path, format!("tensor `{name}`: {e}")))?
            }
            _ => tensor,
        };
        Ok(tensor)
    }
}

/// Writes a GGUF file: the source file's metadata (minus `skip` keys, plus `extra`) and
/// the given tensors, under a temporary name renamed into place.
pub fn write(
    path: &Path,
    source: &GgufFile,
    extra: &[(&str, Value)],
    tensors: &[(String, QTensor)],
) -> Result<(), LmError> {
    let mut keys: Vec<&String> = source.metadata().keys().collect();
    keys.sort();
    let mut metadata: Vec<(&str, &Value)> = keys
        .into_iter()
        .filter(|k| !extra.iter().any(|(e, _)| e == k))
        .map(|k| (k.as_str(), &source.metadata()[k]))
        .collect();
    metadata.extend(extra.iter().map(|(k, v)| (*k, v)));
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let io = |error| LmError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut file = std::io::BufWriter::new(AtomicFile::create(path).map_err(io)?);
    gguf_file::write(&mut file, &metadata, &refs).map_err(|e| LmError::bad_file(path, e))?;
    let file = file.into_inner().map_err(|e| io(e.into_error()))?;
    file.commit().map_err(io)
}
