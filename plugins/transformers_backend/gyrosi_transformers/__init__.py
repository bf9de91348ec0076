"""The `transformers` backend: any Hugging Face causal LM on o200k_harmony token ids, with a KV
cache per conversation that is reused across turns."""
