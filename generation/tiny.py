"""Small random-weight diffusers pipelines built from configs on this machine, without any download.

They go through `save_pretrained` and come back through the same `from_pretrained` path a real
checkpoint takes, so tests, benchmarks and the demo exercise the real loading and generation code.
Their output is noise. Tokenizers are built in memory: a T5 unigram vocabulary and a byte-level
CLIP vocabulary, both covering any text.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

# Directory names under the target folder, and the pipeline each one holds.
TINY_PIPELINES = {
    "text-to-video": "LTXPipeline",
    "image-to-video": "LTXImageToVideoPipeline",
    "text-to-image": "StableDiffusionPipeline",
}
# More classes, built on request (`create_tiny_models DIR --all`; the tests build them once per run).
# Sizes follow diffusers' own tests; each one generates 16x16 (or 32x32) videos of 9 frames.
TINY_MORE = {
    "wan": "WanPipeline",
    "wan-i2v": "WanImageToVideoPipeline",
    "ltx-condition": "LTXConditionPipeline",
    "cogvideox": "CogVideoXPipeline",
    "cogvideox-i2v": "CogVideoXImageToVideoPipeline",
    "svd": "StableVideoDiffusionPipeline",
    "animatediff": "AnimateDiffPipeline",
    "mochi": "MochiPipeline",
    "allegro": "AllegroPipeline",
    "text-to-video-sd": "TextToVideoSDPipeline",
    "hunyuan-video": "HunyuanVideoPipeline",
    # First stages of factorized systems (text-to-image) and a post-generation upscaler.
    "sdxl": "StableDiffusionXLPipeline",
    "flux": "FluxPipeline",
    "pixart-sigma": "PixArtSigmaPipeline",
    "sana": "SanaPipeline",
    "x4-upscaler": "StableDiffusionUpscalePipeline",
}

# The size and frame count each tiny video checkpoint runs at (its VAE and patch sizes allow them).
TINY_SIZE = {"text-to-video": 32, "image-to-video": 32, "ltx-condition": 32, "animatediff": 32, "text-to-video-sd": 32}
TINY_FRAMES = {"mochi": 7}  # Mochi: 1 + 6k


def tiny_call_params(name: str) -> dict:
    """The call arguments a tiny video checkpoint of this module generates with (steps and fps left to the caller)."""
    size = TINY_SIZE.get(name, 16)
    text = {} if name in ("svd", "animatediff", "text-to-video-sd") else {"max_sequence_length": 16}
    return {"num_frames": TINY_FRAMES.get(name, 9), "height": size, "width": size, **text}


_WORDS = (
    "a", "an", "the", "of", "in", "on", "at", "over", "under", "with", "and", "to", "from", "by", "cat", "dog",
    "horse", "bird", "fish", "panda", "robot", "car", "boat", "train", "man", "woman", "child", "people", "city",
    "street", "forest", "beach", "ocean", "river", "mountain", "space", "moon", "sun", "sky", "cloud", "rain", "snow",
    "fire", "water", "night", "day", "red", "blue", "green", "yellow", "black", "white", "small", "big", "running",
    "walking", "flying", "swimming", "dancing", "playing", "eating", "jumping", "slowly", "quickly", "camera", "zoom",
    "pan", "close", "up", "aerial", "view", "video", "photo", "style",
)


def _t5_tokenizer():
    from transformers import T5Tokenizer

    # A unigram vocabulary: whole words first, then single characters so that any text is covered.
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -4.0)]
    vocab += [(f"▁{w}", -2.0) for w in _WORDS]
    vocab += [(c, -6.0) for c in string.ascii_letters + string.digits + string.punctuation]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=64)


def _byte_level_tokenizer(model_max_length: int):
    """A byte-level tokenizer without merges (any text encodes), for Llama-style text encoders."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "<s>", "</s>", *sorted(ByteLevel.alphabet())])}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>"}
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=model_max_length, **special)


def _clip_tokenizer(model_max_length: int = 32):
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    # Byte-level symbols with and without the end-of-word mark and no merges: every text encodes.
    chars = sorted(ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def _t5_encoder(vocab_size: int):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    return T5EncoderModel(config)


def _ltx_components(*, layers: int = 1) -> dict:
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

    tokenizer = _t5_tokenizer()
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8,
        block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False), decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False,) * 5, upsample_residual=(False,) * 4, upsample_factor=(1,) * 4,
        timestep_conditioning=False, patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=layers, caption_channels=32,
    )
    return {
        "transformer": transformer,
        "vae": vae,
        "scheduler": FlowMatchEulerDiscreteScheduler(),
        "text_encoder": _t5_encoder(len(tokenizer)),
        "tokenizer": tokenizer,
    }


def _wan_components(*, image: bool = False) -> dict:
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel

    tokenizer = _t5_tokenizer()
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36 if image else 16,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, image_dim=4 if image else None,
    )
    components = {
        "transformer": transformer, "vae": vae, "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0),
        "text_encoder": _t5_encoder(len(tokenizer)), "tokenizer": tokenizer, "transformer_2": None,
    }
    if image:
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

        components["image_encoder"] = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32,
            intermediate_size=16, patch_size=1,
        ))
        components["image_processor"] = CLIPImageProcessor(crop_size=32, size=32)
    return components


def _cogvideox_components(*, image: bool = False) -> dict:
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel

    tokenizer = _t5_tokenizer()
    transformer = CogVideoXTransformer3DModel(
        # The image-to-video model uses RoPE, whose head size must be a multiple of 16.
        num_attention_heads=2 if image else 4, attention_head_dim=16 if image else 8, in_channels=8 if image else 4,
        out_channels=4, time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2,
        sample_frames=9, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=16,
        use_rotary_positional_embeddings=image, use_learned_positional_embeddings=image,
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
    )
    return {
        "transformer": transformer, "vae": vae, "scheduler": CogVideoXDDIMScheduler(),
        "text_encoder": _t5_encoder(len(tokenizer)), "tokenizer": tokenizer,
    }


def _svd_components() -> dict:
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=4, projection_class_embeddings_input_dim=96, addition_time_embed_dim=32,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear",
        prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2, latent_channels=4,
    )
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        # The pipeline resizes the conditioning image to 224 px for its image encoder.
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224, intermediate_size=37,
        patch_size=14,
    ))
    return {
        "unet": unet, "image_encoder": image_encoder, "scheduler": scheduler, "vae": vae,
        "feature_extractor": CLIPImageProcessor(crop_size=32, size=32),
    }


def _animatediff_components() -> dict:
    from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = _clip_tokenizer()
    blocks = (8, 8)
    unet = UNet2DConditionModel(
        block_out_channels=blocks, layers_per_block=2, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=8, norm_num_groups=2,
    )
    vae = AutoencoderKL(
        block_out_channels=blocks, in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, norm_num_groups=2,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=8, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, vocab_size=len(tokenizer), max_position_embeddings=tokenizer.model_max_length,
    ))
    return {
        "unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer,
        "scheduler": DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False),
        "motion_adapter": MotionAdapter(block_out_channels=blocks, motion_layers_per_block=2, motion_norm_num_groups=2,
                                        motion_num_attention_heads=4),
        "feature_extractor": None, "image_encoder": None,
    }


def _mochi_components() -> dict:
    from diffusers import AutoencoderKLMochi, FlowMatchEulerDiscreteScheduler, MochiTransformer3DModel

    tokenizer = _t5_tokenizer()
    transformer = MochiTransformer3DModel(
        patch_size=2, num_attention_heads=2, attention_head_dim=8, num_layers=2, pooled_projection_dim=16, in_channels=12,
        qk_norm="rms_norm", text_embed_dim=32, time_embed_dim=4, activation_fn="swiglu", max_sequence_length=16,
    )
    vae = AutoencoderKLMochi(
        latent_channels=12, out_channels=3, encoder_block_out_channels=(32, 32, 32, 32),
        decoder_block_out_channels=(32, 32, 32, 32), layers_per_block=(1, 1, 1, 1, 1),
    )
    return {
        "transformer": transformer, "vae": vae, "scheduler": FlowMatchEulerDiscreteScheduler(),
        "text_encoder": _t5_encoder(len(tokenizer)), "tokenizer": tokenizer,
    }


def _allegro_components() -> dict:
    from diffusers import AllegroTransformer3DModel, AutoencoderKLAllegro, DDIMScheduler

    tokenizer = _t5_tokenizer()
    transformer = AllegroTransformer3DModel(
        num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=4, num_layers=1, cross_attention_dim=24,
        sample_width=8, sample_height=8, sample_frames=8, caption_channels=24,
    )
    vae = AutoencoderKLAllegro(
        in_channels=3, out_channels=3, down_block_types=("AllegroDownBlock3D",) * 4, up_block_types=("AllegroUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
    )
    from transformers import T5Config, T5EncoderModel

    text_encoder = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer), d_model=24, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    ))
    return {"transformer": transformer, "vae": vae, "scheduler": DDIMScheduler(), "text_encoder": text_encoder, "tokenizer": tokenizer}


def _text_to_video_sd_components() -> dict:
    from diffusers import UNet3DConditionModel

    components = _stable_diffusion_components()
    unet = UNet3DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=4,
    )
    return {**{k: components[k] for k in ("vae", "text_encoder", "tokenizer", "scheduler")}, "unet": unet}


def _hunyuan_video_components() -> dict:
    from diffusers import AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, HunyuanVideoTransformer3DModel
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1, num_single_layers=1,
        num_refiner_layers=1, patch_size=1, patch_size_t=1, guidance_embeds=True, text_embed_dim=16,
        pooled_projection_dim=8, rope_axes_dim=(2, 4, 4),
    )
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=4, down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1, act_fn="silu",
        norm_num_groups=4, scaling_factor=0.476986, spatial_compression_ratio=8, temporal_compression_ratio=4,
        mid_block_add_attention=True,
    )
    tokenizer, tokenizer_2 = _byte_level_tokenizer(4096), _clip_tokenizer(77)
    text_encoder = LlamaModel(LlamaConfig(
        bos_token_id=1, eos_token_id=2, pad_token_id=0, hidden_size=16, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, vocab_size=len(tokenizer), hidden_act="gelu", max_position_embeddings=4096,
    ))
    text_encoder_2 = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=8, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, vocab_size=len(tokenizer_2), max_position_embeddings=77, hidden_act="gelu", projection_dim=32,
    ))
    return {
        "transformer": transformer, "vae": vae, "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0),
        "text_encoder": text_encoder, "tokenizer": tokenizer, "text_encoder_2": text_encoder_2, "tokenizer_2": tokenizer_2,
    }


def _stable_diffusion_components() -> dict:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = _clip_tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"), up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
            max_position_embeddings=tokenizer.model_max_length, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1,
    )
    return {
        "unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "scheduler": scheduler,
        "safety_checker": None, "feature_extractor": None, "requires_safety_checker": False,
    }


def _clip_text_encoder(tokenizer, *, projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=tokenizer.model_max_length, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        hidden_act="gelu", projection_dim=32,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _sdxl_components() -> dict:
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel

    tokenizer = _clip_tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(2, 4), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,  # 6 * 8 + 32
        cross_attention_dim=64, norm_num_groups=1,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4, sample_size=128,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear", timestep_spacing="leading",
    )
    return {
        "unet": unet, "scheduler": scheduler, "vae": vae, "text_encoder": _clip_text_encoder(tokenizer),
        "tokenizer": tokenizer, "text_encoder_2": _clip_text_encoder(tokenizer, projection=True), "tokenizer_2": tokenizer,
        "image_encoder": None, "feature_extractor": None,
    }


def _flux_components() -> dict:
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel

    tokenizer, tokenizer_2 = _clip_tokenizer(), _t5_tokenizer()
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
    )
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1, latent_channels=1,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035,
    )
    return {
        "scheduler": FlowMatchEulerDiscreteScheduler(), "text_encoder": _clip_text_encoder(tokenizer),
        "text_encoder_2": _t5_encoder(len(tokenizer_2)), "tokenizer": tokenizer, "tokenizer_2": tokenizer_2,
        "transformer": transformer, "vae": vae, "image_encoder": None, "feature_extractor": None,
    }


def _pixart_sigma_components() -> dict:
    from diffusers import AutoencoderKL, DDIMScheduler, PixArtTransformer2DModel

    tokenizer = _t5_tokenizer()
    transformer = PixArtTransformer2DModel(
        sample_size=8, num_layers=2, patch_size=2, attention_head_dim=8, num_attention_heads=3, caption_channels=32,
        in_channels=4, cross_attention_dim=24, out_channels=8, attention_bias=True, activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000, norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
    )
    return {
        "transformer": transformer.eval(), "vae": AutoencoderKL().eval(), "scheduler": DDIMScheduler(),
        "text_encoder": _t5_encoder(len(tokenizer)), "tokenizer": tokenizer,
    }


def _sana_components() -> dict:
    from diffusers import AutoencoderDC, FlowMatchEulerDiscreteScheduler, SanaTransformer2DModel
    from transformers import Gemma2Config, Gemma2Model

    transformer = SanaTransformer2DModel(
        patch_size=1, in_channels=4, out_channels=4, num_layers=1, num_attention_heads=2, attention_head_dim=4,
        num_cross_attention_heads=2, cross_attention_head_dim=4, cross_attention_dim=8, caption_channels=8, sample_size=32,
    )
    vae = AutoencoderDC(
        in_channels=3, latent_channels=4, attention_head_dim=2, encoder_block_types=("ResBlock", "EfficientViTBlock"),
        decoder_block_types=("ResBlock", "EfficientViTBlock"), encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8), encoder_qkv_multiscales=((), (5,)), decoder_qkv_multiscales=((), (5,)),
        encoder_layers_per_block=(1, 1), decoder_layers_per_block=[1, 1], downsample_block_type="conv",
        upsample_block_type="interpolate", decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41407,
    )
    # Gemma's own tokenizer is a download; a byte-level one covers any text (Sana's instruction preamble too).
    tokenizer = _byte_level_tokenizer(8192)
    text_encoder = Gemma2Model(Gemma2Config(
        head_dim=16, hidden_size=8, intermediate_size=64, max_position_embeddings=8192, num_attention_heads=2,
        num_hidden_layers=1, num_key_value_heads=2, vocab_size=len(tokenizer), pad_token_id=0, bos_token_id=1,
        eos_token_id=2, attn_implementation="eager",
    ))
    return {
        "transformer": transformer, "vae": vae, "scheduler": FlowMatchEulerDiscreteScheduler(shift=7.0),
        "text_encoder": text_encoder, "tokenizer": tokenizer,
    }


def _x4_upscaler_components() -> dict:
    from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel

    tokenizer = _clip_tokenizer()
    # Three VAE blocks: latents at 1/4 of the output size, the x4 upscaler's geometry.
    unet = UNet2DConditionModel(
        block_out_channels=(32, 32, 64), layers_per_block=1, sample_size=32, in_channels=7, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8, use_linear_projection=True, only_cross_attention=(True, True, False), num_class_embeds=100,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 32, 64], in_channels=3, out_channels=3, latent_channels=4, scaling_factor=0.08333,
        down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
    )
    return {
        "unet": unet, "low_res_scheduler": DDPMScheduler(), "scheduler": DDIMScheduler(prediction_type="v_prediction"),
        "vae": vae, "text_encoder": _clip_text_encoder(tokenizer), "tokenizer": tokenizer,
        "safety_checker": None, "feature_extractor": None, "watermarker": None, "max_noise_level": 350,
    }


_BUILDERS = {
    "text-to-video": _ltx_components,
    "image-to-video": _ltx_components,
    "ltx-condition": _ltx_components,
    "text-to-image": _stable_diffusion_components,
    "wan": _wan_components,
    "wan-i2v": lambda: _wan_components(image=True),
    "cogvideox": _cogvideox_components,
    "cogvideox-i2v": lambda: _cogvideox_components(image=True),
    "svd": _svd_components,
    "animatediff": _animatediff_components,
    "mochi": _mochi_components,
    "allegro": _allegro_components,
    "text-to-video-sd": _text_to_video_sd_components,
    "hunyuan-video": _hunyuan_video_components,
    "sdxl": _sdxl_components,
    "flux": _flux_components,
    "pixart-sigma": _pixart_sigma_components,
    "sana": _sana_components,
    "x4-upscaler": _x4_upscaler_components,
}


def tiny_models_create(
    *, directory: Path | str, seed: int = 0, more: bool = False, only: tuple[str, ...] | None = None
) -> dict[str, Path]:
    """Write the three tiny pipelines (with `more`, also those of TINY_MORE; with `only`, just those named)
    under `directory` and return {name: path}; existing ones are rebuilt."""
    import diffusers

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    every = {**TINY_PIPELINES, **TINY_MORE}
    chosen = {k: every[k] for k in only} if only is not None else {**TINY_PIPELINES, **(TINY_MORE if more else {})}
    for kind, class_name in chosen.items():
        torch.manual_seed(seed)
        pipeline = getattr(diffusers, class_name)(**_BUILDERS[kind]())
        path = directory / kind
        pipeline.save_pretrained(path, safe_serialization=True)
        paths[kind] = path
    return paths
