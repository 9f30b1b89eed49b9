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


def _clip_tokenizer():
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    # Byte-level symbols with and without the end-of-word mark and no merges: every text encodes.
    chars = sorted(ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=32)


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


def tiny_models_create(*, directory: Path | str, seed: int = 0) -> dict[str, Path]:
    """Write the three tiny pipelines under `directory` and return {kind: path}; existing ones are rebuilt."""
    import diffusers

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, class_name in TINY_PIPELINES.items():
        torch.manual_seed(seed)
        components = _stable_diffusion_components() if kind == "text-to-image" else _ltx_components()
        pipeline = getattr(diffusers, class_name)(**components)
        path = directory / kind
        pipeline.save_pretrained(path, safe_serialization=True)
        paths[kind] = path
    return paths
