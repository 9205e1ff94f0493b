"""A small transformer over the typed token set written by the ``Tokenize`` transform (see ``token_layout``)."""

from __future__ import annotations

import torch
from torch import nn

from bikkle_rl.envs.transforms.token_layout import NUM_TOKEN_TYPES, TOKEN_FEATURES, TokenType
from bikkle_rl.modules.gaze_adapter import GazePelletAdapter
from bikkle_rl.modules.gaze_gate import GazeTrustGate, gate_gaze_shares


class TypedTokenizer(nn.Module):
    """Embeds ``tokens`` [..., TOKEN_FEATURES] by their ``token_type`` [...] into [..., width].

    Each token type has its own bias-free Linear and its own learned embedding vector (which acts as that
    type's bias), kept as separate parameters so that one type's (the gaze's) can be trained alone.
    """

    def __init__(self, width: int):
        super().__init__()
        self.projections = nn.ModuleList(nn.Linear(TOKEN_FEATURES, width, bias=False) for _ in TokenType)
        self.type_embeddings = nn.ParameterList(nn.Parameter(torch.empty(width)) for _ in TokenType)
        for projection, embedding in zip(self.projections, self.type_embeddings):
            nn.init.orthogonal_(projection.weight)
            nn.init.normal_(embedding, std=0.02)

    def forward(self, tokens: torch.Tensor, token_type: torch.Tensor) -> torch.Tensor:
        types = torch.arange(NUM_TOKEN_TYPES, device=token_type.device)
        one_hot = (token_type[..., None] == types).to(tokens.dtype)  # [B, T, K]
        typed_features = (one_hot[..., :, None] * tokens[..., None, :]).flatten(-2)  # [B, T, K * F]
        weight = torch.cat([projection.weight.T for projection in self.projections])  # [K * F, width]
        return typed_features @ weight + one_hot @ torch.stack(list(self.type_embeddings))

    def parameters_of(self, token_type: TokenType) -> list[nn.Parameter]:
        """The parameters that read tokens of ``token_type``: its projection and its type embedding."""
        return [self.projections[token_type].weight, self.type_embeddings[token_type]]


def attention_weights(query: torch.Tensor, key: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Each query's softmax weights over the keys, [heads, Tq, Tk, B], from ``query``, ``key`` [heads, head_width,
    T, B] and ``bias`` [T, B] (see :func:`attention`): ``softmax_k(q . k / sqrt(head_width) + bias_k)``."""
    scores = torch.stack([(query * k[:, :, None]).sum(1) for k in key.unbind(2)], dim=2)  # [heads, Tq, Tk, B]
    return torch.add(bias, scores, alpha=query.shape[1] ** -0.5).softmax(2)


def attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Softmax attention over ``query``, ``key``, ``value`` [heads, head_width, T, B] -> [heads, head_width, T, B].

    ``bias`` [T, B] is added to every query's score for each key (0 to attend, -inf to skip). The batch is the
    last, contiguous dimension and the T keys are looped over, so every op is an elementwise op or reduction
    vectorised over the batch: with a handful of tokens and heads of width 8, batched matmuls (and CPU
    ``scaled_dot_product_attention``) spend their time on per-matrix overhead instead (~3x slower here).
    """
    weights = attention_weights(query, key, bias)
    out = None
    for w, v in zip(weights.unbind(2), value.unbind(2)):
        out = w[:, None] * v[:, :, None] if out is None else torch.addcmul(out, w[:, None], v[:, :, None])
    return out


class TransformerBlock(nn.Module):
    """A pre-LayerNorm block: ``x + attention(norm(x))`` then ``x + feedforward(norm(x))`` on ``x`` [T, B, width].

    ``attend_bias`` [T, B] is 0 for the keys each token may attend to and -inf for the others. The two
    residual branches end in projections initialised to zero, so a fresh block is the identity and grows from
    there. The query/key/value projection writes its output transposed ([3 * width, T * B], a free transpose
    inside the matmul) for :func:`attention`, and the output projection reads it back the same way.
    """

    def __init__(self, width: int, num_heads: int, ff_multiplier: int):
        super().__init__()
        self.num_heads = num_heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.attention_out = nn.Linear(width, width)
        self.feedforward_norm = nn.LayerNorm(width)
        self.feedforward = nn.Sequential(
            nn.Linear(width, ff_multiplier * width), nn.GELU(), nn.Linear(ff_multiplier * width, width)
        )
        for layer in (self.qkv, self.feedforward[0]):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        for layer in (self.attention_out, self.feedforward[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def query_key_value(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The heads' queries, keys and values of ``x`` [T, B, width], each [heads, head_width, T, B]."""
        length, batch, width = x.shape
        normed = self.attention_norm(x).view(-1, width)
        qkv = torch.addmm(self.qkv.bias[:, None], self.qkv.weight, normed.T)  # [3 * width, T * B]
        return qkv.view(3, self.num_heads, width // self.num_heads, length, batch).unbind(0)

    def attention_weights(self, x: torch.Tensor, attend_bias: torch.Tensor) -> torch.Tensor:
        """The weights [heads, Tq, Tk, B] with which this block's attention mixes the tokens of ``x`` [T, B, width]."""
        query, key, _ = self.query_key_value(x)
        return attention_weights(query, key, attend_bias)

    def forward(self, x: torch.Tensor, attend_bias: torch.Tensor) -> torch.Tensor:
        query, key, value = self.query_key_value(x)
        attended = attention(query, key, value, attend_bias).view(x.shape[-1], -1)  # [width, T * B]
        x = x + self.attention_out(attended.T).view(x.shape)
        return x + self.feedforward(self.feedforward_norm(x))


class TokenTransformer(nn.Module):
    """Encodes the token set into features [..., width] (any leading batch dims).

    Inputs: ``tokens`` [..., T, TOKEN_FEATURES], ``token_type`` [..., T] long, ``token_mask`` [..., T] bool
    (True = present). Absent tokens are zeroed, never attended to and never pooled, so their content cannot
    change the output; without positional encodings the output is invariant to the order of the tokens.
    Pooling: ``mean`` over present tokens, or ``query``, a learned token that joins every block and is read
    out at the end (it is always present, so a row with no tokens still has a key to attend to).

    Norm placement and init: pre-LayerNorm blocks (the residual stream is never normalised, so gradients
    reach every layer unscaled) and one final LayerNorm before pooling; residual output projections start at
    zero, so at init the encoder is a per-token embedding, a LayerNorm and a pooling, and attention is learned
    on top of that well-conditioned start rather than through a stack of random mixing layers.

    ``gaze_adapter`` > 0 adds a :class:`GazePelletAdapter` of that hidden width to the token embeddings: a gaze
    pathway that trains alone (a gaze-only fine-tune), zero at start. ``gaze_token=False`` drops the gaze token
    from attention and pooling (the adapter still reads it): gaze then reaches the network through the adapter
    alone, so a no-gaze agent given an adapter computes exactly its function without gaze until the adapter trains.
    ``gaze_gate`` > 0 (with the adapter and no gaze token) adds a :class:`GazeTrustGate` of that hidden width: the
    adapter's output and the pellets' shares of the looks are scaled by a trust learned from the gaze's track record.
    """

    def __init__(self, width: int, num_layers: int, num_heads: int, ff_multiplier: int, pooling: str,
                 gaze_adapter: int = 0, gaze_token: bool = True, gaze_gate: int = 0):
        super().__init__()
        if gaze_gate and (gaze_token or not gaze_adapter):
            raise ValueError("gaze_gate needs gaze_adapter > 0 and gaze_token false: the gate scales the adapter "
                             "and the looks' shares, and an ungated gaze token would bypass it")
        self.gaze_token = gaze_token
        self.tokenizer = TypedTokenizer(width)
        self.gaze_adapter = GazePelletAdapter(width, gaze_adapter) if gaze_adapter else None
        self.gaze_gate = GazeTrustGate(gaze_gate) if gaze_gate else None
        self.blocks = nn.ModuleList(TransformerBlock(width, num_heads, ff_multiplier) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(width)
        self.query = nn.Parameter(torch.randn(width) * 0.02) if pooling == "query" else None
        self.out_features = width

    def embed(self, tokens: torch.Tensor, token_type: torch.Tensor,
              token_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first block's input ``x`` [T', B, width], the pooled tokens' ``mask`` [T', B] and the blocks'
        ``attend_bias`` [T', B], from the inputs of :meth:`forward` flattened to one batch dimension B.

        T' = T, plus the learned query token as the last one with ``query`` pooling.
        """
        length = tokens.shape[-2]
        # Token-major [T, B, ...] throughout, so that attention runs over a contiguous batch dimension.
        tokens = tokens.reshape(-1, length, tokens.shape[-1]).transpose(0, 1).contiguous()
        token_type = token_type.reshape(-1, length).T.contiguous()
        mask = token_mask.reshape(-1, length).T.bool().contiguous()

        tokens = torch.where(mask[..., None], tokens, 0.0)
        trust = None if self.gaze_gate is None else self.gaze_gate(tokens, token_type)  # [B]
        if trust is not None:
            tokens = gate_gaze_shares(tokens, token_type, trust)
        x = self.tokenizer(tokens, token_type)  # [T, B, width]
        if self.gaze_adapter is not None:
            adapted = self.gaze_adapter(tokens, token_type, mask)
            x = x + (adapted if trust is None else adapted * trust[:, None])
        if not self.gaze_token:
            mask = mask & (token_type != int(TokenType.GAZE))
        if self.query is not None:
            x = torch.cat([x, self.query.expand(1, x.shape[1], -1)])
            mask = torch.cat([mask, mask.new_ones(1, mask.shape[1])])
        # A row with no present token attends to everything (all zeros) instead of to nothing (NaN).
        attend = mask | ~mask.any(0)
        attend_bias = x.new_zeros(attend.shape).masked_fill(~attend, float("-inf"))
        return x, mask, attend_bias

    def forward(self, tokens: torch.Tensor, token_type: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        x, mask, attend_bias = self.embed(tokens, token_type, token_mask)
        for block in self.blocks:
            x = block(x, attend_bias)
        x = self.final_norm(x)

        if self.query is not None:
            pooled = x[-1]
        else:
            weights = mask.to(x.dtype)[..., None]
            pooled = (x * weights).sum(0) / weights.sum(0).clamp_min(1.0)
        return pooled.reshape(*tokens.shape[:-2], -1)

    @torch.no_grad()
    def pooled_attention(self, tokens: torch.Tensor, token_type: torch.Tensor,
                         token_mask: torch.Tensor) -> torch.Tensor:
        """How much the pooled output attends to each token: weights [..., T'] over the keys of the last block.

        The last block's attention weights, averaged over its heads, for the query the output is pooled from:
        with ``query`` pooling the learned query token's row (T' = T + 1: its last weight is the query token's
        attention to itself); with ``mean`` pooling the mean of the present tokens' rows (T' = T), since the
        output is the mean of those tokens. Either way the weights sum to 1 over the present tokens (and the query
        token) and are 0 on absent ones. Inputs as :meth:`forward`'s; a separate pass through the same modules, so
        the forward pass is untouched (for a video overlay, :mod:`bikkle_rl.evaluation.attention_video`).
        """
        x, mask, attend_bias = self.embed(tokens, token_type, token_mask)
        for block in self.blocks[:-1]:
            x = block(x, attend_bias)
        weights = self.blocks[-1].attention_weights(x, attend_bias).mean(0)  # [Tq, Tk, B]
        if self.query is not None:
            pooled = weights[-1]
        else:
            rows = mask.to(x.dtype)[:, None]  # [Tq, 1, B]
            pooled = (weights * rows).sum(0) / rows.sum(0).clamp_min(1.0)
        return pooled.T.reshape(*tokens.shape[:-2], -1)

    @torch.no_grad()
    def gaze_trust(self, tokens: torch.Tensor, token_type: torch.Tensor) -> torch.Tensor:
        """The gate's trust [...] in this step's gaze (inputs as :meth:`forward`'s, leading dims kept); 1 without a
        gate, where gaze is read unscaled."""
        if self.gaze_gate is None:
            return tokens.new_ones(tokens.shape[:-2])
        length = tokens.shape[-2]
        flat_tokens = tokens.reshape(-1, length, tokens.shape[-1]).transpose(0, 1)
        return self.gaze_gate(flat_tokens, token_type.reshape(-1, length).T).reshape(tokens.shape[:-2])

    def gaze_parameters(self) -> list[nn.Parameter]:
        adapter = [] if self.gaze_adapter is None else list(self.gaze_adapter.parameters())
        gate = [] if self.gaze_gate is None else list(self.gaze_gate.parameters())
        token = self.tokenizer.parameters_of(TokenType.GAZE) if self.gaze_token else []
        return token + adapter + gate


def gated_encoder(policy: nn.Module) -> TokenTransformer | None:
    """``policy``'s transformer where it has a gaze gate, else None."""
    return next((module for module in policy.modules()
                 if isinstance(module, TokenTransformer) and module.gaze_gate is not None), None)
