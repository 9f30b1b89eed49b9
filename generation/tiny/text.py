"""Tokenizers and text encoders of the tiny pipelines, built in memory: a T5 unigram vocabulary, a byte-level
CLIP vocabulary and a byte-level BPE without merges (for Llama- and Gemma-style encoders), each covering any text."""

from __future__ import annotations

import string

_WORDS = (
    "a", "an", "the", "of", "in", "on", "at", "over", "under", "with", "and", "to", "from", "by", "cat", "dog",
    "horse", "bird", "fish", "panda", "robot", "car", "boat", "train", "man", "woman", "child", "people", "city",
    "street", "forest", "beach", "ocean", "river", "mountain", "space", "moon", "sun", "sky", "cloud", "rain", "snow",
    "fire", "water", "night", "day", "red", "blue", "green", "yellow", "black", "white", "small", "big", "running",
    "walking", "flying", "swimming", "dancing", "playing", "eating", "jumping", "slowly", "quickly", "camera", "zoom",
    "pan", "close", "up", "aerial", "view", "video", "photo", "style",
)


def t5_tokenizer():
    from transformers import T5Tokenizer

    # A unigram vocabulary: whole words first, then single characters so that any text is covered.
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -4.0)]
    vocab += [(f"▁{w}", -2.0) for w in _WORDS]
    vocab += [(c, -6.0) for c in string.ascii_letters + string.digits + string.punctuation]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=64)


def byte_level_tokenizer(model_max_length: int):
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


def clip_tokenizer(model_max_length: int = 32):
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    # Byte-level symbols with and without the end-of-word mark and no merges: every text encodes.
    chars = sorted(ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def t5_encoder(vocab_size: int):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    )
    return T5EncoderModel(config)


def clip_text_encoder(tokenizer, *, projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=tokenizer.model_max_length, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        hidden_act="gelu", projection_dim=32,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)
