"""The between-session side-effect checklist (clinical.md section 5), as data.

``code`` values are stored; labels are what the patient reads. Each effect is rated none / mild /
moderate / severe, except the yes/no questions, which store 0 (no) or 3 (yes) so that "any report"
is simply ``severity > 0`` for every effect.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITY_LABELS = {0: "None", 1: "Mild", 2: "Moderate", 3: "Severe"}
YES_NO_LABELS = {0: "No", 3: "Yes"}


@dataclass(frozen=True)
class SideEffect:
    code: str
    label: str
    yes_no: bool = False

    @property
    def choices(self) -> dict[int, str]:
        return YES_NO_LABELS if self.yes_no else SEVERITY_LABELS


SIDE_EFFECTS: tuple[SideEffect, ...] = (
    SideEffect("dissociation", "Feeling detached or unreal, still today"),
    SideEffect("nausea", "Nausea or vomiting"),
    SideEffect("dizziness", "Dizziness"),
    SideEffect("drowsiness", "Drowsiness or trouble staying awake"),
    SideEffect("headache", "Headache"),
    SideEffect("blurred_vision", "Blurred vision"),
    SideEffect("confusion", "Confusion or trouble thinking clearly"),
    SideEffect("urinary", "Needing to pass urine often, urgently, or pain when passing urine"),
    SideEffect("blood_in_urine", "Blood in urine", yes_no=True),
    SideEffect("cravings", "Cravings, or using ketamine or sedatives outside treatment", yes_no=True),
    SideEffect("drove_after_session", "Drove on a treatment day", yes_no=True),
)

SIDE_EFFECTS_BY_CODE = {effect.code: effect for effect in SIDE_EFFECTS}


# Warning symptoms (clinical.md sections 4-5; rules C1, C4, C5, C6, C8, C9, C11). Ticked boxes are
# stored as codes; the first group are emergencies, so the form says "call now" beside them.
EMERGENCY_SYMPTOMS: tuple[tuple[str, str], ...] = (
    ("severe_headache", "A sudden, severe headache"),
    ("chest_pain", "Chest pain"),
    ("breathless", "Shortness of breath"),
    ("breathing_difficulty", "Slow or difficult breathing"),
    ("vision_loss", "Sudden loss of vision"),
    ("one_sided_weakness", "Weakness or numbness on one side of the body"),
    ("slurred_speech", "Slurred or difficult speech"),
    ("confusion", "Sudden confusion"),
    ("seizure", "A seizure (fit)"),
    ("cannot_stay_awake", "Can't stay awake"),
    ("fainting", "Fainting"),
)
OTHER_SYMPTOMS: tuple[tuple[str, str], ...] = (
    ("back_pain", "Back pain"),
    ("hallucinations", "Seeing or hearing things other people don't"),
    ("paranoia", "Feeling that people are against you or watching you"),
    ("severe_pelvic_pain", "Severe bladder or pelvic pain"),
    ("cannot_pass_urine", "Can't pass urine"),
    ("cannot_keep_fluids_down", "Vomiting and unable to keep fluids down for more than a day"),
    ("extra_dose_wanted", "Wanting extra or earlier doses"),
    ("used_outside_treatment", "Used ketamine or sedatives outside treatment"),
    ("pregnancy", "I am pregnant or planning a pregnancy"),
)
SYMPTOM_CODES = frozenset(code for code, _label in EMERGENCY_SYMPTOMS + OTHER_SYMPTOMS)
