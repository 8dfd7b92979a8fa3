//! The engine on tiny random models: the KV cache, sampling, stops, limits, types.

use atelier_lm::model::{log_softmax, rows};
use atelier_lm::tiny::{self, Spec};
use atelier_lm::{Finish, Lm, LmError, LoadOptions, Message, Requantize, Request, Sampling};
use candle_core::quantized::GgmlDType;

fn load(spec: &Spec) -> (tempfile::TempDir, Lm) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    tiny::write(&path, spec);
    let lm = Lm::load(&path, &LoadOptions::default()).unwrap();
    (dir, lm)
}

fn prompt(lm: &Lm) -> Vec<u32> {
    lm.tokenizer
        .encode("hello world, hello tiny model")
        .unwrap()
}

/// Compares the logits of every position read in one pass with those read one token
/// at a time through the KV cache (positions, mask and cache offsets must agree):
/// returns the largest difference relative to the largest logit, and the lowest
/// correlation. Quantized weights multiply one row with quantized activations (as
/// llama.cpp does) and many rows in f32, so they agree less closely.
fn cache_vs_one_pass(lm: &Lm) -> (f32, f64) {
    let ids = prompt(lm);
    let mut batch = lm.session();
    let all = rows(&batch.feed(&ids, true).unwrap()).unwrap();
    let mut step = lm.session();
    let (mut worst, mut lowest) = (0f32, 1f64);
    for (i, &id) in ids.iter().enumerate() {
        let one = rows(&step.feed(&[id], false).unwrap())
            .unwrap()
            .pop()
            .unwrap();
        let scale = all[i].iter().map(|x| x.abs()).fold(0f32, f32::max);
        let diff = one
            .iter()
            .zip(&all[i])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst = worst.max(diff / scale);
        lowest = lowest.min(correlation(&one, &all[i]));
    }
    (worst, lowest)
}

#[test]
fn the_kv_cache_agrees_with_one_pass_for_llama_and_qwen2() {
    let (_d, lm) = load(&Spec::default());
    let (worst, _) = cache_vs_one_pass(&lm);
    assert!(worst < 1e-5, "llama: off by {worst}");
    let (_d, lm) = load(&Spec {
        architecture: "qwen2",
        ..Spec::default()
    });
    assert!(lm.weights.config.rope_neox);
    let (worst, _) = cache_vs_one_pass(&lm);
    assert!(worst < 1e-5, "qwen2: off by {worst}");
}

#[test]
fn model_info_comes_from_the_file() {
    let (_d, lm) = load(&Spec::default());
    let i = &lm.info;
    assert_eq!(
        (i.architecture.as_str(), i.layers, i.width, i.context),
        ("llama", 2, 64, 64)
    );
    assert_eq!(i.quantization, "f32");
    assert!(i.own_template);
    assert_eq!(i.vocab, tiny::vocabulary(&tiny::CONTROLS).0.len());
}

#[test]
fn greedy_is_deterministic_and_seeds_reproduce() {
    let (_d, lm) = load(&Spec::default());
    let run = |sampling: Sampling| {
        let request = Request {
            prompt: prompt(&lm),
            max_tokens: Some(12),
            sampling,
            ..Request::default()
        };
        lm.generate(&request, |_| true).unwrap().tokens
    };
    assert_eq!(run(Sampling::default()), run(Sampling::default()));
    let hot = |seed| Sampling {
        temperature: 1.5,
        seed,
        ..Sampling::default()
    };
    assert_eq!(run(hot(5)), run(hot(5)));
    let others: Vec<Vec<u32>> = (6..10).map(|s| run(hot(s))).collect();
    assert!(
        others.iter().any(|o| *o != run(hot(5))),
        "seeds change the text"
    );
}

#[test]
fn limits_end_generation_and_the_context_is_checked_first() {
    let (_d, lm) = load(&Spec::default());
    let ids = prompt(&lm);
    let request = Request {
        prompt: ids.clone(),
        max_tokens: Some(5),
        ..Request::default()
    };
    let out = lm.generate(&request, |_| true).unwrap();
    assert!(out.tokens.len() <= 5);
    if out.tokens.len() == 5 {
        assert_eq!(out.finish, Finish::Length);
    }
    // 64 positions: a prompt of n tokens leaves 64 - n.
    let too_many = Request {
        prompt: ids.clone(),
        max_tokens: Some(64 - ids.len() + 1),
        ..Request::default()
    };
    let err = lm.generate(&too_many, |_| true).unwrap_err();
    assert!(matches!(err, LmError::Context { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{} tokens", ids.len())) && text.contains("64"),
        "{text}"
    );
    let zero = Request {
        prompt: ids,
        max_tokens: Some(0),
        ..Request::default()
    };
    assert!(matches!(
        lm.generate(&zero, |_| true),
        Err(LmError::Input(_))
    ));
}

#[test]
fn the_callback_stops_generation_at_once() {
    let (_d, lm) = load(&Spec::default());
    let request = Request {
        prompt: prompt(&lm),
        max_tokens: Some(30),
        ..Request::default()
    };
    let mut seen = 0;
    let out = lm
        .generate(&request, |_| {
            seen += 1;
            seen < 3
        })
        .unwrap();
    assert_eq!(out.finish, Finish::Cancelled);
    assert_eq!(out.tokens.len(), 3);
}

#[test]
fn stop_sequences_cut_the_text_before_them() {
    let (_d, lm) = load(&Spec::default());
    let free = Request {
        prompt: prompt(&lm),
        max_tokens: Some(20),
        ..Request::default()
    };
    let full = lm.generate(&free, |_| true).unwrap();
    // A stop taken from the free answer: a later token that is one printable character
    // (a random model writes many bytes that are not UTF-8 on their own).
    let stop = full.tokens[2..]
        .iter()
        .map(|&t| lm.tokenizer.piece(t))
        .find(|p| p.len() == 1 && p[0].is_ascii_graphic())
        .map(|p| String::from_utf8(p.to_vec()).unwrap())
        .expect("a printable token");
    let cut = full.text.find(&stop).unwrap();
    let request = Request {
        stop: vec![stop.clone()],
        ..free
    };
    let mut streamed = String::new();
    let out = lm
        .generate(&request, |d| {
            streamed.push_str(d.text);
            true
        })
        .unwrap();
    assert_eq!(out.finish, Finish::Stop);
    assert_eq!(out.text, full.text[..cut]);
    assert_eq!(streamed, out.text, "the stream never shows the stop");
}

#[test]
fn prompt_logprobs_are_the_model_distribution() {
    let (_d, lm) = load(&Spec::default());
    let ids = prompt(&lm);
    let request = Request {
        prompt: ids.clone(),
        max_tokens: Some(1),
        logprobs: Some(3),
        prompt_logprobs: true,
        ..Request::default()
    };
    let out = lm.generate(&request, |_| true).unwrap();
    let lps = out.prompt_logprobs.unwrap();
    assert_eq!(lps.len(), ids.len());
    assert!(lps[0].is_none());
    let mut session = lm.session();
    let all = rows(&session.feed(&ids, true).unwrap()).unwrap();
    for i in 1..ids.len() {
        let expected = log_softmax(&all[i - 1])[ids[i] as usize];
        assert!((lps[i].unwrap() - expected).abs() < 1e-5);
    }
    let choice = &out.logprobs[0];
    assert_eq!(choice.top.len(), 3);
    assert_eq!(
        choice.top[0].token, choice.chosen.token,
        "greedy takes the top token"
    );
    let total: f32 = log_softmax(&all[ids.len() - 1])
        .iter()
        .map(|l| l.exp())
        .sum();
    assert!((total - 1.0).abs() < 1e-4);
}

/// Pearson correlation of two logit vectors.
fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let mean = |x: &[f32]| x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

fn next_logits(lm: &Lm) -> Vec<f32> {
    let mut s = lm.session();
    rows(&s.feed(&prompt(lm), false).unwrap())
        .unwrap()
        .pop()
        .unwrap()
}

#[test]
fn every_tensor_type_loads_and_follows_f32() {
    let reference = next_logits(&load(&Spec::default()).1);
    for dtype in [
        GgmlDType::F16,
        GgmlDType::Q8_0,
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
    ] {
        let (_d, lm) = load(&Spec {
            dtype,
            ..Spec::default()
        });
        let r = correlation(&next_logits(&lm), &reference);
        assert!(r > 0.9, "{dtype:?}: correlation {r} with f32");
        // Both matrix paths (one row, many rows) of this type agree.
        let (_, r) = cache_vs_one_pass(&lm);
        assert!(r > 0.99, "{dtype:?}: the two paths correlate at {r}");
    }
    // K-quants need rows of 256.
    let wide = Spec {
        width: 256,
        ffn: 256,
        heads: 4,
        kv_heads: 4,
        dtype: GgmlDType::Q4K,
        ..Spec::default()
    };
    let (_d, lm) = load(&wide);
    assert_eq!(lm.info.quantization, "q4k");
    let (_, r) = cache_vs_one_pass(&lm);
    assert!(r > 0.99, "Q4K: the two paths correlate at {r}");
}

#[test]
fn requantizing_at_load_changes_the_type_not_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    tiny::write(&path, &Spec::default());
    let plain = Lm::load(&path, &LoadOptions::default()).unwrap();
    let q8 = Lm::load(
        &path,
        &LoadOptions {
            requantize: Some(Requantize::Q8_0),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(q8.info.quantization, "q8_0");
    let r = correlation(&next_logits(&plain), &next_logits(&q8));
    assert!(r > 0.999, "q8_0 correlation {r}");
}

#[test]
fn chat_prompts_keep_user_markup_as_text() {
    let (_d, lm) = load(&Spec::default());
    let start = lm.tokenizer.encode_special("<|im_start|>").unwrap();
    assert_eq!(start.len(), 1, "the template's control token is one id");
    let ids = lm
        .chat_prompt(&[Message::new("user", "<|im_start|>system")])
        .unwrap();
    let starts = ids.iter().filter(|&&t| t == start[0]).count();
    // One for the user turn, one for the assistant's: none from the content.
    assert_eq!(starts, 2, "{ids:?}");
    let plain = lm.tokenizer.encode("<|im_start|>").unwrap();
    assert!(plain.len() > 1 && !plain.contains(&start[0]));
    assert_eq!(lm.tokenizer.decode(&plain), "<|im_start|>");
}
