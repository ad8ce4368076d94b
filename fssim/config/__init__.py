"""Scenario configuration: YAML validated into typed objects (pydantic).

The schema is the contract with analysts: unknown keys are errors, every field has a default taken
from :mod:`fssim.defaults` (with its source) or is required, and every error names the file, the
field path and what is expected. ``load_config`` is the one way in; ``Config.model_dump`` gives the
fully resolved config written beside each run.
"""

from fssim.config.base import (  # noqa: F401
    FRANCE_BOXES,
    MAX_HORIZON_DAYS,
    MAX_HORIZON_YEARS,
    MAX_KM_FROM_COMMUNE,
    MAX_REPLICATIONS,
    Share,
    Weekday,
    clock,
    commune_code,
    in_france,
    parse_clock,
    parse_day_hours,
)
from fssim.config.booking import Booking  # noqa: F401
from fssim.config.demand import (  # noqa: F401
    Behaviour,
    Catchment,
    Demand,
    Demarche,
    FollowUp,
    MixShift,
    SiteDemand,
    VolumePhase,
    default_catalogue,
)
from fssim.config.absences import Absences, SiteAbsences, absences_of  # noqa: F401
from fssim.config.sites import (  # noqa: F401
    Bus,
    Recurrence,
    Site,
    Stop,
    check_places,
)
from fssim.config.resources import (  # noqa: F401
    CHANNELS,
    Channels,
    SelfService,
    Visio,
    VisioSlot,
)
from fssim.config.network import (  # noqa: F401
    AgentsByDensity,
    Coverage,
    Network,
    Placement,
    RoadSpec,
    RolloutPhase,
    StaffingRule,
    Territory,
)
from fssim.config.scenario import (  # noqa: F401
    Config,
    Holidays,
    Horizon,
    KPIS,
    Outputs,
    Target,
    default_targets,
)
from fssim.config.loading import (  # noqa: F401
    MAX_YAML_BYTES,
    config_from_dict,
    format_validation_error,
    load_config,
    non_finite,
    read_yaml,
    set_path,
)
