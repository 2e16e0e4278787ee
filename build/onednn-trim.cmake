# oneDNN trimmed to what CTranslate2 calls (feature `dnnl`, docs/benchmarks.md section 9).
#
# How it gets in: the `cmake` crate passes `CMAKE_TOOLCHAIN_FILE_<target>` from the environment to
# every CMake project it configures, so this one file reaches oneDNN (onednn-src's build script),
# CTranslate2 (ct2rs) and the other -sys crates. It acts only when the top-level project is oneDNN;
# anywhere else (CTranslate2, try_compile checks, other crates) it sets nothing.
#
# What CTranslate2 uses from oneDNN (src/cpu/primitives.cc, src/ops/conv1d_cpu.cc):
#   - the BLAS-like C API: dnnl_sgemm, dnnl_gemm_u8s8s32, dnnl_gemm_s8s8s32 (not primitives; the
#     x64/gemm kernels are always built);
#   - the convolution primitive (f32 conv1d of Whisper's front end), forward inference only;
#   - the reorder primitive (to and from the layout the convolution picks).
#
# Two levers, both oneDNN's own:
#   1. ONEDNN_ENABLE_PRIMITIVE / ONEDNN_ENABLE_PRIMITIVE_CPU_ISA: only convolution and reorder get
#      registered, and no AMX implementation of them (AMX serves int8/bf16 convolutions; ours are
#      f32; the GEMM API keeps all its kernels). oneDNN applies these to its implementation lists
#      only: every source file is still compiled.
#   2. So, once oneDNN's CMakeLists has made its targets, the sources of the primitives that are no
#      longer registered are taken out of them. Nothing registered refers to them; if that ever
#      changes (a new onednn-src), the final link fails loudly with an undefined symbol, it cannot
#      silently run something else.
# The debug info of the oneDNN objects is a separate knob: Cargo.toml's profile override for
# onednn-src (`debug = false` makes the cmake crate pick Release over RelWithDebInfo).

if(NOT EXISTS "${CMAKE_SOURCE_DIR}/include/oneapi/dnnl/dnnl.h"
        OR NOT EXISTS "${CMAKE_SOURCE_DIR}/src/cpu/cpu_engine.cpp")
    return()
endif()

set(ONEDNN_ENABLE_PRIMITIVE "CONVOLUTION;REORDER" CACHE STRING
    "asr-router: primitives CTranslate2 uses" FORCE)
set(ONEDNN_ENABLE_PRIMITIVE_CPU_ISA "AVX512" CACHE STRING
    "asr-router: no AMX convolutions (CTranslate2's are f32)" FORCE)

function(asr_onednn_prune_sources)
    # Sources of primitives that are not registered any more (paths relative to oneDNN's root).
    # Kept on purpose: every *_list.cpp (cpu_engine.cpp refers to all of them), the GEMM kernels,
    # brgemm, the injectors (convolution post-ops), x64/matmul's copy and reorder helpers (registered
    # as reorders), jit_avx512_core_amx_conv_kernel.cpp (brgemm convolutions use its helpers).
    set(ASR_ONEDNN_PRUNE
        "^src/cpu/rnn/"
        "^src/cpu/x64/rnn/"
        "^src/cpu/matmul/(gemm_|ref_)"
        "^src/cpu/x64/matmul/(brgemm_matmul|jit_uni_sparse_matmul)\\.cpp$"
        "^src/cpu/x64/(lrn|prelu|shuffle)/"
        "^src/cpu/ref_(lrn|prelu|shuffle|pooling|softmax|binary|eltwise|reduction|resampling|deconvolution|inner_product|inner_product_int8|batch_normalization|group_normalization|layer_normalization)\\.cpp$"
        "^src/cpu/(nchw|nhwc)_pooling\\.cpp$"
        "^src/cpu/(ncsp|nspc)_batch_normalization\\.cpp$"
        "^src/cpu/ncsp_group_normalization\\.cpp$"
        "^src/cpu/cpu_batch_normalization_utils\\.cpp$"
        "^src/cpu/simple_(resampling|layer_normalization|sum|concat)\\.cpp$"
        "^src/cpu/(gemm|gemm_x8s8s32x)_inner_product\\.cpp$"
        "^src/cpu/x64/jit_uni_(pool_kernel|pooling|i8i8_pooling|batch_normalization|batch_normalization_s8|tbb_batch_normalization|group_normalization|instance_normalization|layer_normalization|reduction|reduction_kernel|resampling|resampling_kernel|softmax|binary|binary_kernel|eltwise|eltwise_int|xf16_sum|deconv_zp_pad_str_kernel|x8s8s32x_deconvolution)\\.cpp$"
        "^src/cpu/x64/jit_avx512_core_(resampling|amx_deconvolution|x8s8s32x_deconvolution)\\.cpp$"
        "^src/cpu/x64/jit_avx512_core_amx_(1x1_conv_kernel|1x1_convolution|convolution)\\.cpp$"
        "^src/cpu/x64/jit_brgemm_deconv\\.cpp$"
        "^src/cpu/x64/jit_brgemm_conv_bwd(|_strided|_w|_copy_kernel|_trans_kernel|_utils)\\.cpp$"
        "^src/cpu/x64/(gemm_bf16_inner_product|matmul_inner_product)\\.cpp$")
    set(dropped 0)
    foreach(tgt IN ITEMS dnnl_common dnnl_cpu dnnl_cpu_x64)
        if(NOT TARGET ${tgt})
            continue()
        endif()
        get_target_property(srcs ${tgt} SOURCES)
        get_target_property(dir ${tgt} SOURCE_DIR)
        set(kept "")
        foreach(src IN LISTS srcs)
            get_filename_component(abs "${src}" ABSOLUTE BASE_DIR "${dir}")
            file(RELATIVE_PATH rel "${CMAKE_SOURCE_DIR}" "${abs}")
            set(drop FALSE)
            foreach(re IN LISTS ASR_ONEDNN_PRUNE)
                if(rel MATCHES "${re}")
                    set(drop TRUE)
                    break()
                endif()
            endforeach()
            if(drop)
                math(EXPR dropped "${dropped} + 1")
            else()
                list(APPEND kept "${src}")
            endif()
        endforeach()
        set_property(TARGET ${tgt} PROPERTY SOURCES "${kept}")
    endforeach()
    message(STATUS "asr-router trim: ${dropped} oneDNN sources of unregistered primitives left out")
endfunction()

# The toolchain file is read more than once per configure; defer the pruning once, to the end of
# oneDNN's top-level CMakeLists (after every add_subdirectory made its target).
get_property(asr_deferred GLOBAL PROPERTY ASR_ONEDNN_TRIM_DEFERRED)
if(NOT asr_deferred)
    set_property(GLOBAL PROPERTY ASR_ONEDNN_TRIM_DEFERRED TRUE)
    cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL asr_onednn_prune_sources)
endif()
