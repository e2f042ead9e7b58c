//! The Rust ↔ WGSL contract (src/gpu/contract.rs) cannot drift: the shaders declare none of it
//! themselves (no parameter struct, no binding numbers, no copy of a shared constant), every field and
//! binding they use is one the contract declares, and every generated module compiles on the adapter.

use crate::common;

use densi::backend::Dtype;
use densi::gpu::contract::{self, Shader};
use densi::model::DType;

/// Identifiers `p.<field>` a shader reads from its parameter block.
fn param_reads(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = src.as_bytes();
    for (i, _) in src.match_indices("p.") {
        let starts_word = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'.');
        if !starts_word {
            continue;
        }
        let field: String = src[i + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !field.is_empty() && !out.contains(&field) {
            out.push(field);
        }
    }
    out
}

/// Source without `//` comments.
fn code(src: &str) -> String {
    src.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

#[test]
fn shaders_declare_nothing_of_the_contract() {
    let consts = contract::constants();
    let names: Vec<&str> = consts.lines().filter_map(|l| l.strip_prefix("const ")?.split(':').next()).collect();
    assert!(names.len() >= 10, "the contract's constants: {names:?}");
    for shader in Shader::ALL {
        let src = code(shader.source());
        assert!(!src.contains("@binding"), "{shader:?}: a bare binding number; bindings come from the contract");
        assert!(!src.contains("struct Params"), "{shader:?}: declares its own parameter block");
        assert!(!src.contains("var<uniform>"), "{shader:?}: declares its own uniform");
        for name in &names {
            assert!(!src.contains(&format!("const {name}")), "{shader:?}: redeclares the contract's {name}");
        }
    }
    // The weight readers and the matmul core bind nothing and declare nothing of the contract either.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut helpers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with("weights_") || name == "mm_core.wgsl"
        })
        .collect();
    helpers.sort();
    assert!(helpers.len() >= 12, "weight readers and the core: {helpers:?}");
    for path in helpers {
        let src = code(&std::fs::read_to_string(&path).unwrap());
        assert!(!src.contains("@binding"), "{}: binds a buffer itself", path.display());
        assert!(!src.contains("p."), "{}: reads the parameter block (take arguments instead)", path.display());
        for name in &names {
            assert!(!src.contains(&format!("const {name}")), "{}: redeclares the contract's {name}", path.display());
        }
    }
}

#[test]
fn shaders_use_only_what_the_contract_declares() {
    for shader in Shader::ALL {
        let src = code(shader.source());
        let fields: Vec<&str> = shader.param_fields().iter().map(|f| f.0).collect();
        let reads = param_reads(&src);
        assert!(!reads.is_empty(), "{shader:?}: reads no parameters?");
        for f in &reads {
            assert!(fields.contains(&f.as_str()), "{shader:?}: reads p.{f}, which its parameter block lacks");
        }
        for (_, name, _, _) in shader.bindings() {
            assert!(
                src.contains(&format!("{name}[")) || *name == "w",
                "{shader:?}: binding `{name}` declared by the contract but unused"
            );
        }
        // The weight binding is read through `wload` (shaders/weights_*.wgsl).
        assert_eq!(shader.reads_weights(), src.contains("wload("), "{shader:?}: weight reads vs the contract");
    }
}

#[test]
fn record_layouts_match_the_host() {
    use contract::*;
    // parse_merged and the buffer sizes use these; lmhead.wgsl gets the same numbers from the prelude.
    assert_eq!(lm_rec_stride(0), LM_REC_HEAD as usize);
    assert_eq!(lm_out_stride(3), LM_OUT_HEAD as usize + 6);
    assert_eq!(LM_OUT_HEAD, LM_REC_HEAD + 1, "a merged row is a record plus z_t");
    assert_eq!(LM_VBLOCK, LM_NT * 64);
    assert_eq!(densi::gpu::kernels::LM_KMAX, LM_KMAX as usize);
    let prelude = Shader::LmHead.prelude(Dtype::F32);
    for (name, value) in [("LM_KMAX", LM_KMAX), ("LM_REC_HEAD", LM_REC_HEAD), ("LM_OUT_HEAD", LM_OUT_HEAD)] {
        assert!(prelude.contains(&format!("const {name}: u32 = {value}u;")), "{name} in:\n{prelude}");
    }
}

#[test]
fn every_generated_module_compiles() {
    let Some(ctx) = common::gpu_ctx() else { return };
    let mut dtypes = vec![Dtype::F32];
    if ctx.has(wgpu::Features::SHADER_F16) {
        dtypes.push(Dtype::F16);
    } else {
        eprintln!("NOT RUN: f16 modules ({} lacks SHADER_F16)", ctx.describe());
    }
    let mut formats: Vec<contract::WeightFormat> = dtypes.into_iter().map(Into::into).collect();
    // Every stored type's weight reader.
    for t in [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
        DType::Q4_K,
        DType::Q5_K,
        DType::Q6_K,
    ] {
        formats.push(contract::WeightFormat::Stored(t));
    }
    for dtype in formats {
        for shader in Shader::ALL {
            let src = shader.module_for(dtype);
            ctx.scoped("compiling", || {
                ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&format!("{shader:?}")),
                    source: wgpu::ShaderSource::Wgsl(src.into()),
                })
            })
            .unwrap_or_else(|e| panic!("{shader:?} ({dtype:?}): {e}"));
        }
    }
}
