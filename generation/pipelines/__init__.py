"""Diffusers pipelines: a generated system's configuration, checked when it is added, and running it on a worker.

Configuration (none of these modules imports the running side):
- config.py: what `add_system` stores and `config_validate` checks; `params_parse`; SystemConfig.
- checks.py: the load options, sizes, frame counts and scheduler overrides, against the model itself.
- stage_config.py: the post-generation stages' keys (interpolation, upscaling) and their checks.
- classes.py: the diffusers classes and checkpoints a configuration names; ConfigError.

Running (on a GPU worker):
- cache.py: loading a pipeline as configured, and the bounded cache of loaded pipelines.
- run.py: `videos_generate`, one video per request in batched calls.
- stages.py: the post-generation stages applied to each video's frames.
- steps.py: a call's denoising steps reported to whoever runs it.
"""
