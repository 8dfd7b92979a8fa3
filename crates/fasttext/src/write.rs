//! Writing models in fastText's file format (`.bin`, and `.ftz` when quantized).
//!
//! The layout is the one [`Model::from_bytes`] reads: magic number and version 12, the
//! arguments, the dictionary, a flag and the input matrix, a flag and the output matrix,
//! all little-endian. A dense input matrix holds a row for every hash bucket (2 million
//! by default), most of them zero when the training data is small; a file gets those
//! runs of zeros as holes (sparse file), which take no disk and no time to write, and
//! read back as zeros.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::matrix::Matrix;
use crate::{Error, MAGIC, Model, VERSION};

/// Where a model's bytes go.
pub(crate) trait Sink {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Appends `n` zero bytes.
    fn zeros(&mut self, n: u64) -> io::Result<()>;
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }

    fn zeros(&mut self, n: u64) -> io::Result<()> {
        self.resize(self.len() + n as usize, 0);
        Ok(())
    }
}

static ZEROS: [u8; FileSink::HOLE as usize] = [0; FileSink::HOLE as usize];

/// A file written front to back, with long runs of zeros left as holes.
struct FileSink {
    out: BufWriter<File>,
    pending_zeros: u64,
    len: u64,
}

impl FileSink {
    /// Runs of zeros at least this long become holes (at least one whole 4 KiB block);
    /// shorter ones are written.
    const HOLE: u64 = 1 << 14;

    fn settle(&mut self) -> io::Result<()> {
        let n = std::mem::take(&mut self.pending_zeros);
        if n >= Self::HOLE {
            self.out.seek(SeekFrom::Current(n as i64))?;
        } else {
            self.out.write_all(&ZEROS[..n as usize])?;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.settle()?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        // A file that ends in a hole gets its length here.
        file.set_len(self.len)
    }
}

impl Sink for FileSink {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.pending_zeros > 0 {
            self.settle()?;
        }
        self.len += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    fn zeros(&mut self, n: u64) -> io::Result<()> {
        self.pending_zeros += n;
        self.len += n;
        Ok(())
    }
}

impl Model {
    /// Writes the model to `path` in fastText's format: a `.bin` file, or an `.ftz` file
    /// when the model is quantized. The file is written under a temporary name and
    /// renamed when complete, so a reader never sees half a model.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let io_err = |error| Error::Io {
            path: path.to_path_buf(),
            error,
        };
        let tmp = temporary(path);
        let result = (|| {
            let file = File::create(&tmp)?;
            let mut sink = FileSink {
                out: BufWriter::with_capacity(1 << 20, file),
                pending_zeros: 0,
                len: 0,
            };
            self.write_to(&mut sink)?;
            sink.finish()
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        std::fs::rename(&tmp, path).map_err(io_err)
    }

    /// The bytes of the model file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out)
            .expect("writing to memory cannot fail");
        out
    }

    fn write_to(&self, sink: &mut dyn Sink) -> io::Result<()> {
        let mut head = Vec::new();
        head.extend(MAGIC.to_le_bytes());
        head.extend(VERSION.to_le_bytes());
        self.args().write(&mut head);
        self.dictionary().write(&mut head);
        head.push(u8::from(matches!(self.input(), Matrix::Quant(_))));
        sink.put(&head)?;
        self.input().write(sink)?;
        sink.put(&[u8::from(matches!(self.output_matrix(), Matrix::Quant(_)))])?;
        self.output_matrix().write(sink)
    }
}

/// `path` with `.tmp` appended: where a file is written before it is renamed.
fn temporary(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Writes a file through `write`, buffered, under a temporary name renamed to `path`
/// when complete, so a reader never sees half a file; nothing is left on failure.
pub(crate) fn atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Error> {
    let tmp = temporary(path);
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        write(&mut out)?;
        out.into_inner().map(drop).map_err(|e| e.into_error())
    })();
    let result = result.and_then(|()| std::fs::rename(&tmp, path));
    if let Err(error) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Io {
            path: path.to_path_buf(),
            error,
        });
    }
    Ok(())
}
