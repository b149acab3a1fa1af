"""How a run was trained, in one record: its model.json. The system (--model,
--loss), its networks' shapes, the prior, the data set, the batch size and
the seed. Training writes it when a run starts; resume and every test-mode
command read it and obey it: a flag not given takes the run's value, a flag
given that contradicts it is refused naming both values (or, where it is a
legitimate choice, such as sampling another prior on purpose in test mode,
said in the log).

A run trained before the record (model.json held the networks' shapes alone)
still reads: what FLAGS.json says fills the rest, and what neither file says
is assumed and said.
"""

import dataclasses
import json
import math
import os

from dcgan_tf import config as config_lib
from dcgan_tf import data as data_lib
from dcgan_tf import latent
from dcgan_tf import networks
from dcgan_tf import systems
from dcgan_tf import tf1_checkpoint

VERSION = 2
# carpedm20's network flags: their values are the ModelConfig's fields of the same names.
CARPEDM20_SHAPE_FLAGS = ("output_height", "output_width", "z_dim", "gf_dim", "df_dim",
                         "gfc_dim", "dfc_dim")
# Flags that test mode may set apart from the run's values on purpose: sampling
# another prior (said in the log), and another grid size.
TEST_MODE_CHOICES = ("z_dist", "batch_size")
# The stabilizers a run trains with beyond its networks' (spectral norm is in
# their shapes): each flag and its type; off where a record does not say.
STABILIZERS = {"ema_decay": float, "ema_start": int, "diffaugment": str, "r1_gamma": float,
               "r1_every": int, "stabilized": bool}
STABILIZERS_OFF = dict(ema_decay=0.0, ema_start=1000, diffaugment="", r1_gamma=0.0, r1_every=1,
                       stabilized=False)
# How a run trains that a resumed run may change on purpose (a flag typed wins,
# and the log says so), and takes from the record where no flag is typed: the
# optimizers' settings, the schedule's counts, the objective's parameters, the
# images an epoch draws from (train_size: null for all of them), and how often
# it samples and saves and how many checkpoints it keeps (a resume that took
# the default --max_to_keep 1 deleted every older checkpoint a run kept).
SETTINGS = {"learning_rate": float, "beta1": float, "beta2": float, "d_learning_rate": float,
            "g_learning_rate": float, "g_updates": int, "n_critic": int, "clip_value": float,
            "lambda_gp": float, "ls_abc": str, "divergence": str, "original_loss_eval": bool,
            "train_size": float, "sample_freq": int, "ckpt_freq": int, "max_to_keep": int}


def _settings_of(config):
    settings = {name: getattr(config, name) for name in SETTINGS}
    if math.isinf(settings["train_size"]):
        settings["train_size"] = None  # JSON has no infinity (FLAGS.json writes it so too)
    return settings


def _flag_values_of(settings):
    """The flags' values of a record's settings (null train_size: every image)."""
    if "train_size" in settings and settings["train_size"] is None:
        return {**settings, "train_size": math.inf}
    return settings


# How an image folder's files were read into the images the run trained on:
# the crop and its size fix them (a flag typed against the record is refused);
# the pattern finds them (taken where none is typed: a folder may be renamed).
DATA_READING = {"input_fname_pattern": str, "crop": bool, "input_height": int,
                "input_width": int}


def data_reading_of(config):
    """The record's `data` of a run trained on `config`: None for an IDX data set
    (its digits read one way), the crop's size only under --crop (unread else)."""
    if data_lib.is_idx_dataset(config.dataset):
        return None
    names = DATA_READING if config.crop else ("input_fname_pattern", "crop")
    return {name: getattr(config, name) for name in names}


def networks_of_original(checkpoint_path, config, typed, use):
    """The networks of an original TF1 checkpoint, read off its variables: the
    record it has instead of a model.json. A shape flag not typed takes the
    checkpoint's; one typed that differs is refused, naming both (the weights
    would not fit, or fit a generator of other proportions). `use`: what the
    command does with it ("continue it", "sample it")."""
    height, width = (getattr(config, name) if name in typed else None
                     for name in ("output_height", "output_width"))
    networks = tf1_checkpoint.infer_model_config(checkpoint_path, height, width).validate()
    # The unconditional model has no layers of --gfc_dim and --dfc_dim.
    fixed = [name for name in CARPEDM20_SHAPE_FLAGS
             if networks.y_dim or name not in ("gfc_dim", "dfc_dim")]
    differing = [f"--{name} {getattr(networks, name)} (these flags: --{name}"
                 f" {getattr(config, name)})" for name in fixed
                 if name in typed and getattr(config, name) != getattr(networks, name)]
    if differing:
        raise tf1_checkpoint.CheckpointMismatchError(
            f"{checkpoint_path} was trained with {'; '.join(differing)}. Drop those flags to"
            f" {use} (its shapes are read off the checkpoint), or pass another"
            " --checkpoint_dir.")
    return networks


class DamagedRunFileError(ValueError):
    """A file this program wrote into a run folder no longer reads back."""


def damaged(path, what, fix="Restore it from a backup or from another copy of the run, or move"
                              " the run folder away and pass --out_name to start a new run."):
    return DamagedRunFileError(f"{path} is damaged ({what}). {fix}")


def read_json_object(path, what):
    """A JSON object of ours (FLAGS.json, model.json); a damaged one is an error
    naming the file, what it holds and how to get it back."""
    try:
        with open(path, "rb") as f:
            values = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        values = error
    if not isinstance(values, dict):
        cause = values if isinstance(values, Exception) else f"a JSON {type(values).__name__}"
        raise damaged(path, f"{cause}; it should hold {what} as one JSON object")
    return values


def _type_name(kind):
    return {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
            tuple: "a list"}.get(kind, kind.__name__)


def has_type(value, kind, optional=False):
    """Whether a JSON value is of a dataclass field's type (a bool is no number)."""
    if value is None:
        return optional
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is tuple:
        return isinstance(value, list)
    return isinstance(value, kind)


def typed_fields(cls, values, path, what):
    """`values` checked against the dataclass `cls`'s fields (every required one
    there, each of its type, none unknown), for cls(**values)."""
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise damaged(path, f"it records {', '.join(unknown)}, which {what} does not have")
    for name, field in fields.items():
        required = (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING)
        if name not in values:
            if required:
                raise damaged(path, f"it lacks \"{name}\" ({what})")
            continue
        kind = field.type
        if not has_type(values[name], kind):
            raise damaged(path, f"it records \"{name}\": {json.dumps(values[name])}, which should"
                                f" be {_type_name(kind)}")
    return values


def networks_of(model, values, path):
    """The networks' config (carpedm20.ModelConfig or pytorch_gan.FamilyModelConfig)
    that `values` describe, checked: each field's type, then its value."""
    cls = networks.KINDS[systems.SYSTEMS[model].networks].config
    try:
        return cls(**typed_fields(cls, values, path, "the networks' shapes")).validate()
    except ValueError as error:
        if isinstance(error, DamagedRunFileError):
            raise
        raise damaged(path, f"no network can have what it records ({error})") from error


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What a run is: the system, its networks, and what it trained on and with.
    `assumed` names the fields an older run's files do not hold: the flags'
    values stand for them (never written)."""

    model: str
    loss: str
    networks: object
    z_dist: str
    dataset: str
    batch_size: int
    seed: int = None
    stabilizers: dict = dataclasses.field(default_factory=lambda: dict(STABILIZERS_OFF))
    settings: dict = dataclasses.field(default_factory=dict)
    data: dict = None  # DATA_READING of an image folder; None: IDX data, or not known
    assumed: tuple = ()

    @classmethod
    def of_training(cls, config, networks):
        return cls(model=config.model, loss=config.loss, networks=networks,
                   z_dist=config.z_dist, dataset=config.dataset,
                   batch_size=config.batch_size, seed=config.seed,
                   stabilizers={name: getattr(config, name) for name in STABILIZERS},
                   settings=_settings_of(config), data=data_reading_of(config))

    def to_json(self):
        values = {"record_version": VERSION, "model": self.model, "loss": self.loss,
                  "networks": dataclasses.asdict(self.networks), "z_dist": self.z_dist,
                  "dataset": self.dataset, "batch_size": self.batch_size, "seed": self.seed,
                  "stabilizers": self.stabilizers, "settings": self.settings}
        if self.data is not None:
            values["data"] = self.data
        return json.dumps(values, indent=2, sort_keys=True)

    @property
    def averaged(self):
        """Whether the run keeps an average of G (--ema_decay), which test mode samples."""
        return self.stabilizers["ema_decay"] > 0

    def flag_values(self):
        """{flag: the value the run trained with} for every flag the record fixes
        (the assumed ones left out)."""
        values = dict(model=self.model, loss=self.loss, z_dist=self.z_dist,
                      dataset=self.dataset, batch_size=self.batch_size, **self.stabilizers)
        values.update({name: value for name, value in (self.data or {}).items()
                       if name != "input_fname_pattern"})
        networks = self.networks
        values["spectral_norm"] = networks.spectral_norm
        if self.model == "dcgan":
            values.update({name: getattr(networks, name) for name in CARPEDM20_SHAPE_FLAGS})
        else:
            values.update(output_height=networks.image_size, output_width=networks.image_size,
                          z_dim=networks.z_dim)
            if networks.n_classes:
                values["n_classes"] = networks.n_classes
        return {name: value for name, value in values.items() if name not in self.assumed}

    def describe(self):
        """The flags that make this run, as a command line would give them."""
        values = self.flag_values()
        shown = [f"--model {self.model}"] + ([f"--loss {self.loss}"] if self.loss else [])
        shown += [f"--{name} {values[name]}" for name in ("dataset", "z_dist", "batch_size",
                                                          "z_dim") if name in values]
        return " ".join(shown)


# The record's fields and their types (the networks checked by their own class).
_FIELDS = dict(model=str, loss=str, networks=dict, z_dist=str, dataset=str, batch_size=int)


def _check_values(record, path):
    """Values no run can have, named with the file."""
    if record.model not in systems.SYSTEMS:
        raise damaged(path, f"it records \"model\": {record.model!r}, which is not one of"
                            f" {', '.join(systems.MODELS)}")
    if record.loss and record.loss not in systems.LOSSES:
        raise damaged(path, f"it records \"loss\": {record.loss!r}, which is not one of"
                            f" {', '.join(systems.LOSSES)}")
    if record.z_dist not in latent.Z_DISTRIBUTIONS:
        raise damaged(path, f"it records \"z_dist\": {record.z_dist!r}, which is not one of"
                            f" {', '.join(latent.Z_DISTRIBUTIONS)}")
    if record.batch_size < 1:
        raise damaged(path, f"it records \"batch_size\": {record.batch_size}, and a batch holds"
                            " at least one image")
    if not record.dataset:
        raise damaged(path, "it records an empty \"dataset\"")
    if record.seed is not None and not 0 <= record.seed < 2**32:
        raise damaged(path, f"it records \"seed\": {record.seed}, which no run can have"
                            " (seeds are in [0, 2**32))")
    return record


def read(model_json, flags_json=None):
    """The RunRecord of a run's model.json; for a run trained before the record,
    its networks from model.json and the rest from FLAGS.json (`flags_json`,
    if it exists), what neither holds assumed."""
    values = read_json_object(model_json, "the record of how the run was trained")
    if "record_version" not in values:
        return _read_before_record(values, model_json, flags_json)
    version = values.pop("record_version")
    if version != VERSION:
        raise damaged(model_json, f"its record_version is {version!r}; this program reads"
                                  f" version {VERSION}",
                      fix="Use the dcgan-tf that trained the run, or restore the file.")
    for name, kind in _FIELDS.items():
        if name not in values:
            raise damaged(model_json, f"it lacks \"{name}\"")
        if not has_type(values[name], kind):
            raise damaged(model_json, f"it records \"{name}\": {json.dumps(values[name])}, which"
                                      f" should be {_type_name(kind)}")
    if not has_type(values.get("seed"), int, optional=True):
        raise damaged(model_json, f"it records \"seed\": {json.dumps(values['seed'])}, which"
                                  " should be a whole number")
    stabilizers = _stabilizers(values.get("stabilizers", {}), model_json)
    settings = _settings(values.get("settings", {}), model_json)
    # A record from before a setting, or `data`, was kept: FLAGS.json says them.
    older = set(SETTINGS) - set(settings) or (
        "data" not in values and not data_lib.is_idx_dataset(values["dataset"]))
    flags = read_flags(flags_json) if older and flags_json and os.path.exists(flags_json) else {}
    settings = {**{name: flags[name] for name in SETTINGS if name in flags}, **settings}
    reading = (_data_reading(values["data"], model_json) if "data" in values
               else _data_reading_in_flags(values["dataset"], flags))
    unknown = sorted(set(values) - set(_FIELDS) - {"seed", "stabilizers", "settings", "data"})
    if unknown:
        raise damaged(model_json, f"it records {', '.join(unknown)}, which this program does"
                                  " not know", fix="Use the dcgan-tf that trained the run.")
    model = values["model"]
    if model not in systems.SYSTEMS:
        raise damaged(model_json, f"it records \"model\": {model!r}, which is not one of"
                                  f" {', '.join(systems.MODELS)}")
    networks = networks_of(model, values["networks"], model_json)
    record = RunRecord(model=model, loss=values["loss"], networks=networks,
                       z_dist=values["z_dist"], dataset=values["dataset"],
                       batch_size=values["batch_size"], seed=values.get("seed"),
                       stabilizers=stabilizers, settings=settings, data=reading)
    return _check_values(record, model_json)


def _data_reading(values, path):
    """A record's `data`: null, or how its image folder was read (DATA_READING,
    the crop's size only under its crop)."""
    if values is None:
        return None
    fields = set(DATA_READING) if isinstance(values, dict) and values.get("crop") else {
        "input_fname_pattern", "crop"}
    if not isinstance(values, dict) or set(values) != fields or not all(
            has_type(value, DATA_READING[name]) for name, value in values.items()):
        raise damaged(path, f"it records \"data\": {json.dumps(values)}, which should be"
                            " an object of input_fname_pattern and crop (and, under crop,"
                            " input_height and input_width), as training writes it")
    return values


def _data_reading_in_flags(dataset, flags):
    """How a run recorded before `data` read its image folder, from its
    FLAGS.json's `flags`; None where they do not say (the flags' values stand)."""
    if data_lib.is_idx_dataset(dataset) or flags.get("dataset") != dataset or not all(
            name in flags for name in DATA_READING):
        return None
    return data_reading_of(config_lib.Config(**{name: flags[name] for name in
                                                ("dataset", *DATA_READING)}))


def _settings(values, path):
    """A record's settings (SETTINGS), each of its type or null (unset)."""
    if not isinstance(values, dict) or set(values) - set(SETTINGS):
        raise damaged(path, f"it records \"settings\": {json.dumps(values)}, which should be"
                            f" an object of {', '.join(SETTINGS)}")
    for name, value in values.items():
        if not has_type(value, SETTINGS[name], optional=True):
            raise damaged(path, f"it records \"{name}\": {json.dumps(value)}, which should be"
                                f" {_type_name(SETTINGS[name])}")
    return values


def _stabilizers(values, path):
    """A record's stabilizers, each of its type; those it does not name are off
    (it was trained without them)."""
    if not isinstance(values, dict):
        raise damaged(path, f"it records \"stabilizers\": {json.dumps(values)}, which should"
                            " be a JSON object")
    unknown = sorted(set(values) - set(STABILIZERS))
    if unknown:
        raise damaged(path, f"it records the stabilizers {', '.join(unknown)}, which this"
                            " program does not know", fix="Use the dcgan-tf that trained the run.")
    for name, value in values.items():
        if not has_type(value, STABILIZERS[name]):
            raise damaged(path, f"it records \"{name}\": {json.dumps(value)}, which should be"
                                f" {_type_name(STABILIZERS[name])}")
    return {**STABILIZERS_OFF, **values}


def _read_before_record(values, model_json, flags_json):
    """An older run: model.json holds the networks' fields alone (a family
    model's with its "model" and "loss"); FLAGS.json, where there is one, the
    rest. What neither holds is `assumed` (the flags' values stand)."""
    model = values.get("model", "dcgan")
    if not isinstance(model, str) or model not in systems.SYSTEMS:
        raise damaged(model_json, f"it records \"model\": {json.dumps(model)}, which is not one"
                                  f" of {', '.join(systems.MODELS)}")
    networks = networks_of(model, values, model_json)
    flags = read_flags(flags_json) if flags_json and os.path.exists(flags_json) else {}
    loss = networks.loss if model != "dcgan" else flags.get("loss", "")
    assumed = tuple(name for name in ("z_dist", "dataset", "batch_size") if name not in flags)
    settings = {name: flags[name] for name in SETTINGS if name in flags}
    dataset = flags.get("dataset", "unknown")
    record = RunRecord(model=model, loss=loss, networks=networks, settings=settings,
                       z_dist=flags.get("z_dist", "uniform_signed"), dataset=dataset,
                       batch_size=flags.get("batch_size", 64), seed=flags.get("seed"),
                       data=_data_reading_in_flags(dataset, flags),
                       assumed=assumed)
    return _check_values(record, model_json)


# ------------------------------------------------------------------ FLAGS.json


def read_flags(path):
    """The flags a run was started with (its FLAGS.json), each known one of its
    type (a value of another type is no flag this program ever wrote)."""
    values = read_json_object(path, "the flags the run was started with")
    for field in dataclasses.fields(config_lib.Config):
        if field.name not in values:
            continue  # a flag added after the run was started
        # A flag whose default is None (unset) may be null; train_size's inf is too.
        optional = field.default is None or field.name == "train_size"
        if not has_type(values[field.name], field.type, optional=optional):
            raise damaged(path, f"it records \"{field.name}\": {json.dumps(values[field.name])},"
                                f" which no run can have (--{field.name} is"
                                f" {_type_name(field.type)})")
    return values


# ------------------------------------------------------------------ obeying the record


def as_typed(name, value):
    """A flag's value as it is typed: `--spectral_norm`, `--nospectral_norm`,
    `no --loss` (the model's own), `--ema_decay 0.999`, `--ema_decay 0` (not 0.0)."""
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    if value is None or value == "":
        return f"no --{name}"
    return f"--{name} {_typed_value(value)}"


def _typed_value(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def change_as_typed(name, old, new):
    """`--epoch 1 -> 2`, `--nosync_bn -> --sync_bn`, `no --loss -> --loss hinge`."""
    if any(isinstance(value, bool) or value is None or value == "" for value in (old, new)):
        return f"{as_typed(name, old)} -> {as_typed(name, new)}"
    return f"{as_typed(name, old)} -> {_typed_value(new)}"


def contradictions(config, typed, record, *, resuming):
    """The flags typed that contradict the record: [(name, the flag's value,
    the run's)], but those test mode may choose apart (TEST_MODE_CHOICES). A
    resumed run's seed too: its initial weights and its data's order are of
    it (test mode's --seed seeds its own draws)."""
    allowed = () if resuming else TEST_MODE_CHOICES
    fixed = record.flag_values()
    if resuming and record.seed is not None:
        fixed["seed"] = record.seed
    return [(name, getattr(config, name), value) for name, value in fixed.items()
            if name in typed and getattr(config, name) != value and name not in allowed]


def refuse_contradictions(config, typed, record, run_dir, *, resuming):
    """Raises ValueError naming each flag typed that contradicts the record."""
    found = contradictions(config, typed, record, resuming=resuming)
    if not found:
        return
    listed = "; ".join(f"{as_typed(name, recorded)} (these flags: {as_typed(name, given)})"
                       for name, given, recorded in found)
    drop = ", ".join(as_typed(name, given) for name, given, _ in found)
    action = "resume it" if resuming else "use it"
    raise ValueError(
        f"The run in {run_dir} was trained with {listed}. Drop {drop} to {action} (its"
        " model.json says how it was trained), or pass --out_name to "
        + ("start a new run." if resuming else "name another run."))


def obeyed(config, typed, record, run_dir, *, resuming, log):
    """`config` with the run's values wherever no flag was typed (the run's
    --model's defaults under them); refuses a flag typed that contradicts the
    record, and says a test-mode choice apart from it."""
    refuse_contradictions(config, typed, record, run_dir, resuming=resuming)
    if not resuming and "z_dist" in typed and config.z_dist != record.z_dist \
            and "z_dist" in record.flag_values():
        log(f" [!] Sampling --z_dist {config.z_dist}, as asked: the run trained on"
            f" {record.z_dist}, so these samples are not what it learned to make.")
    recorded = {name: value for name, value in {**_flag_values_of(record.settings),
                                                **(record.data or {}),
                                                **record.flag_values()}.items()
                if name not in typed}
    if "model" in recorded or "loss" in recorded:
        config = config_lib.with_defaults(
            dataclasses.replace(config, model=record.model, loss=record.loss), typed)
    unlike_defaults = [as_typed(name, value) for name, value in recorded.items()
                       if name in SETTINGS and value != getattr(config, name)]
    if resuming and unlike_defaults:
        # A quick look's --train_size 3200, resumed by the full command, went on
        # training on 3,200 images with no word of it.
        log(" [*] Resuming with the run's own " + ", ".join(sorted(unlike_defaults))
            + " (its record, model.json), not the defaults: type a flag to change one, or"
            " pass --out_name to start another run.")
    config = dataclasses.replace(config, **recorded)
    if record.assumed:
        log(f" [*] The run in {run_dir} predates its record in model.json, and no FLAGS.json"
            " says how it was trained: taken as "
            + ", ".join(f"--{name} {getattr(config, name)}" for name in record.assumed)
            + " (the flags'); pass the values it trained with if they differ.")
    return config
