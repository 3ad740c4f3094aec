"""Real models beside the zoo, and the one lookup of any model by name.

`python app.py --model PATH_OR_HUB_ID` (repeatable) calls `load_real_model`: transformers loads the
checkpoint (config, safetensors weights, tokenizer; a local directory never touches the network, a hub id
is downloaded by huggingface_hub only because the operator named it), after the real-model calculator
(scale/) has estimated its memory: a model that will not fit in this machine's available memory (or the GPU's,
with --device cuda) is refused with that figure instead of failing out of memory, and told how to load it spread
over the GPUs, the memory and the disk (--device auto: accelerate's device_map). MoE families get this project's routing inside
(models/hf_routed.py); dense ones serve as twins. Loaded models are registered under their directory
name or hub id; `get_model(name)` answers for the zoo's members and for them.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from huggingface_hub import hf_hub_download
from transformers import AutoModelForCausalLM, AutoTokenizer

from errors import UserError
from models.hf_families import FAMILIES, declares_experts
from models.hf_routed import HFModel, HFShape, decoder_layers, module_arch, route_moe_blocks
from models.params import ArchSpec, breakdown
from models.zoo import SPECS, LoadedModel, bytes_to_load as zoo_bytes_to_load, load_member, zoo_names
from scale.architectures import ConfigError, parse_hf_config
from text import tr

MAX_CONTEXT = 512  # tokens analysed per text: a real model on a 2-core CPU takes seconds per forward beyond this
DTYPES = {"auto": "auto", "bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
DEVICES = ("cpu", "cuda", "auto")


class ModelLoadError(UserError):
    """A checkpoint that cannot be loaded here; the message says why (unsupported family, too big, no files)."""


class UnknownModel(UserError):
    """A model name that is neither a zoo member nor a loaded model."""


@dataclass(frozen=True)
class RealSpec:
    name: str  # directory name or hub id
    source: str
    family: str  # transformers' model_type
    moe: tuple[int, int, int] | None  # (experts, top-K, MoE layers); None for a dense model
    params: int
    dtype: str
    placement: dict[str, int]  # bytes by where they live (see `placement`)

    @property
    def description(self) -> str:
        """"olmoe (MoE: 64 experts, top-8, 16 MoE layers), 6,919.2 M parameters, bfloat16, 12.9 GiB in memory", in
        the reader's language."""
        kind = (tr("MoE: {experts} experts, top-{k}, {layers} MoE layers", experts=self.moe[0], k=self.moe[1],
                   layers=self.moe[2]) if self.moe else tr("dense"))
        return tr("{family} ({kind}), {millions:,.1f} M parameters, {dtype}, {placement}", family=self.family, kind=kind,
                  millions=self.params / 1e6, dtype=self.dtype, placement=placement_words(self.placement))


def config_of(source: str) -> tuple[dict, bool]:
    """The config.json of a local checkpoint directory or a hub id -> (config dict, is_local). For a hub id
    only config.json is fetched here, before anything large is."""
    path = Path(source).expanduser()
    if path.is_dir():
        file = path / "config.json"
        if not file.is_file():
            raise ModelLoadError(f"{source}: no config.json in this directory")
        return json.loads(file.read_text()), True
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise ModelLoadError(f"{source}: not a checkpoint directory, and not a hub id of the form owner/name")
    return json.loads(Path(hf_hub_download(source, "config.json")).read_text()), False


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo: what this machine can give a new model without swapping."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def weight_bytes(config: dict, total_params: int, dtype: str) -> int:
    """Bytes of the weights once loaded in `dtype` ("auto": the checkpoint's own dtype, float32 if unstated)."""
    name = (config.get("dtype") or config.get("torch_dtype") or "float32") if dtype == "auto" else dtype
    return total_params * BYTES.get(str(name), 4)


def check_fits(source: str, config: dict, arch: ArchSpec | None, dtype: str, available: int, where: str = "memory",
               reserved: int = 0) -> None:
    """Refuse, with the calculator's figure, a model whose weights would take more than 90% of the `available` bytes
    of `where` (this machine's memory, or the GPU's) less `reserved` (the zoo's members still to load). arch None: a
    dense family the calculator does not parse (its size shows once loaded)."""
    if arch is None:
        return
    total = breakdown(arch).total
    need = weight_bytes(config, total, dtype)
    if need > 0.9 * (available - reserved):
        kept = f" ({reserved / 2**30:.2f} GiB of them kept for the zoo's models)" if reserved else ""
        raise ModelLoadError(f"{source}: its {total / 1e9:.2f} B parameters need {need / 2**30:.1f} GiB in "
                             f"{'its checkpoint dtype' if dtype == 'auto' else dtype}; this machine has "
                             f"{available / 2**30:.1f} GiB available in {where}{kept}, so it is not loaded. To load it anyway, "
                             f"spread over the GPUs, the memory and the disk: --device auto --offload-dir DIR "
                             f"(and --max-memory to cap each device)")


def checkpoint_mappings(maps: Path = Path("/proc/self/maps")) -> list[tuple[int, int]]:
    """Address ranges this process maps from checkpoint files (*.safetensors), read from /proc/self/maps (none where
    it cannot be read)."""
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return []
    ranges = []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].endswith(".safetensors"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


@torch.no_grad()
def own_mapped_weights(hf: torch.nn.Module) -> None:
    """Copy into the process's own memory the CPU tensors that still lie in a checkpoint file's memory map (transformers
    keeps the tensors it loads unchanged there, while the experts it fuses are copies): otherwise the map stays, and every
    page of the file it read while loading stays resident beside the copies (OLMoE-1B-7B: 20.2 GiB resident for 12.9
    GiB of weights, 14.0 GiB with the copy). One tensor at a time, so memory never holds more than one extra tensor."""
    ranges = checkpoint_mappings()
    for tensor in (*hf.parameters(), *hf.buffers()):
        address = tensor.untyped_storage().data_ptr()
        if tensor.device.type == "cpu" and any(start <= address < end for start, end in ranges):
            tensor.data = tensor.data.clone()


def placement(hf: torch.nn.Module) -> dict[str, int]:
    """Bytes of the model's weights and buffers by where they live: "cpu", "cuda:0", ..., "disk" (accelerate's
    offloaded layers; a layer offloaded to the CPU beside a GPU counts as "cpu")."""
    device_map = getattr(hf, "hf_device_map", None) or {}
    where: dict[str, int] = {}
    for name, tensor in (*hf.named_parameters(), *hf.named_buffers()):
        owner = max((m for m in device_map if m == "" or name == m or name.startswith(m + ".")), key=len, default=None)
        place = device_map[owner] if owner is not None else tensor.device
        place = f"cuda:{place}" if isinstance(place, int) else str(place)
        where[place] = where.get(place, 0) + tensor.numel() * tensor.element_size()
    return where


def placement_words(where: dict[str, int]) -> str:
    """"12.9 GiB in memory", or "7.1 GiB on cuda:0, 2.0 GiB in memory, 3.8 GiB on disk", in the reader's language."""
    words = {"cpu": "{size:.3g} GiB in memory", "disk": "{size:.3g} GiB on disk"}
    return ", ".join(tr(words.get(place, "{size:.3g} GiB on {place}"), size=size / 2**30, place=place)
                     for place, size in sorted(where.items(), key=lambda item: item[0] in words))


def device_options(device: str, max_memory: dict | None, offload_dir: str | None) -> dict:
    """from_pretrained's placement arguments for --device cpu (none: plain CPU tensors), cuda (the first GPU) or auto
    (accelerate's device_map="auto" over the GPUs, the CPU and the disk)."""
    if device == "cpu":
        return {}
    if device == "cuda":
        return {"device_map": "cuda"}
    return {"device_map": "auto", "max_memory": max_memory, "offload_folder": offload_dir}


def load_real_model(source: str, dtype: str = "auto", available: int | None = None, device: str = "cpu",
                    max_memory: dict | None = None, offload_dir: str | None = None) -> LoadedModel:
    """Load a transformers causal LM (its MoE blocks routed by this project); ModelLoadError says why not.
    device: cpu (in memory, refused when it will not fit), cuda (on the first GPU, refused when it will not fit
    there) or auto (spread over the GPUs, the CPU and, with offload_dir, the disk; max_memory caps each, in
    accelerate's form {0: "70GiB", "cpu": "20GiB"})."""
    if dtype not in DTYPES:
        raise ModelLoadError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if device not in DEVICES:
        raise ModelLoadError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"{source}: --device cuda, but torch sees no CUDA GPU here (this torch build: {torch.__version__})")
    config, local = config_of(source)
    family = config.get("model_type", "?")
    if declares_experts(config) and family not in FAMILIES:
        raise ModelLoadError(f"{source}: MoE family '{family}' is not supported; supported MoE families: "
                             f"{', '.join(FAMILIES)} (a dense causal LM of any family loads as a twin)")
    try:
        arch = parse_hf_config(config)
    except ConfigError as e:
        if family in FAMILIES:
            raise ModelLoadError(f"{source}: {e}") from None
        arch = None  # a dense family the calculator does not know: counted from its modules once loaded
    if device == "cpu":
        check_fits(source, config, arch, dtype, available or available_memory_bytes(), reserved=zoo_bytes_to_load())
    elif device == "cuda":
        check_fits(source, config, arch, dtype, available or torch.cuda.mem_get_info()[0], "GPU memory")
    try:
        hf = AutoModelForCausalLM.from_pretrained(source, dtype=DTYPES[dtype], local_files_only=local,
                                                  **device_options(device, max_memory, offload_dir))
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
    except Exception as e:  # any failure inside transformers (a config it rejects, missing or mismatched weights): its reason
        raise ModelLoadError(f"{source}: transformers cannot load it as a causal language model with a tokenizer "
                             f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    hf.eval().requires_grad_(False)
    own_mapped_weights(hf)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{source}: needs a fast tokenizer (tokenizer.json)")
    arch = arch or module_arch(hf, config)
    try:
        blocks = route_moe_blocks(hf, config) if family in FAMILIES else []
    except ValueError as e:
        raise ModelLoadError(f"{source}: {e}") from None
    routed = arch.moe_layers[0].ffn if blocks else None
    shape = HFShape(family, int(hf.config.vocab_size), len(blocks) or len(decoder_layers(hf, family)),
                    min(MAX_CONTEXT, int(config.get("max_position_embeddings") or MAX_CONTEXT)),
                    routed.n_experts if routed else 1, routed.top_k if routed else 1)
    name = source.rstrip("/") if not local else Path(source).expanduser().resolve().name
    spec = RealSpec(name, source, family, (shape.n_experts, shape.top_k, len(blocks)) if blocks else None,
                    breakdown(arch).total, str(next(hf.parameters()).dtype).removeprefix("torch."), placement(hf))
    return LoadedModel(spec, HFModel(hf, shape, arch, blocks).eval(), tokenizer.backend_tokenizer)


_LOADED: dict[str, LoadedModel] = {}
_LOCK = threading.Lock()


def register(member: LoadedModel) -> None:
    """Make a loaded model available by its name; a name the zoo or another model already uses is refused."""
    with _LOCK:
        if member.spec.name in SPECS or member.spec.name in _LOADED:
            raise ModelLoadError(f"a model named '{member.spec.name}' is already there; rename the directory")
        _LOADED[member.spec.name] = member


def unregister(name: str) -> None:
    with _LOCK:
        _LOADED.pop(name, None)


def real_model_names(moe: bool | None = None) -> list[str]:
    """Loaded real models in load order; moe=True/False: only MoE / only dense ones."""
    return [n for n, m in _LOADED.items() if moe is None or m.model.cfg.is_moe == moe]


def get_model(name: str) -> LoadedModel:
    """A zoo member or a loaded real model; UnknownModel lists what is there."""
    if name in SPECS:
        return load_member(name)
    if isinstance(name, str) and name in _LOADED:
        return _LOADED[name]
    raise UnknownModel(f"model {name!r} is not loaded; available: {', '.join(zoo_names() + real_model_names())}")


def routing_cards() -> list[dict]:
    """What each loaded real MoE routes by, as plain data for the model card: its family, sizes and rule."""
    cards = []
    for name in real_model_names(moe=True):
        model = get_model(name).model
        block, family = model.blocks[0], FAMILIES[model.cfg.family]
        cards.append({"name": name, "family": family.name, "example": family.example, "n_experts": model.cfg.n_experts,
                      "top_k": model.cfg.top_k, "moe_layers": len(model.blocks),
                      "layers": len(decoder_layers(model.hf, model.cfg.family)), "rule": asdict(block.rule),
                      "shared": block.shared is not None, "gate_input": bool(block.moe.experts.gate_input)})
    return cards
