"""The project's language codes in the codes each translation model family expects.

The project names languages as `clirbench.core.languages` does (CLDR: ISO 639-1 where one
exists, "zh", "pt", "fil"); NLLB-200 wants its FLORES-200 codes ("zho_Hans", "por_Latn"),
M2M-100 its own ISO 639-1 list ("zh", "pt", "tl"), and Marian's opus-mt models the ISO
639-1 code in the model name. The tables are written out rather than derived (from
babel's aliases, say), because the choices are judgement calls a reader should see: a
macrolanguage maps to the variety the model was trained on (Arabic to Modern Standard
Arabic "arb_Arab", Persian to Iranian Persian "pes_Arab", Malay to Standard Malay
"zsm_Latn"), and a code with no such variety stays unmapped, so that translating it is a
clear error before any work rather than a model guessing.

Coverage: every language of the dataset types' `languages` enums in the config schema, the
CLDR demo's languages, and every Tatoeba language NLLB has (the Tatoeba loader turns LASER's
ISO 639-3 names into these codes, e.g. cmn -> zh, tgl -> fil, pes -> fa).
"""

from __future__ import annotations

from collections.abc import Iterable

CODE_SCHEMES = ("nllb", "m2m100", "marian")

# project code -> NLLB-200 (FLORES-200) code
NLLB_CODES: dict[str, str] = {
    "ace": "ace_Latn", "ace-Arab": "ace_Arab", "aeb": "aeb_Arab", "af": "afr_Latn",
    "ak": "aka_Latn", "am": "amh_Ethi", "apc": "apc_Arab", "ar": "arb_Arab", "ars": "ars_Arab",
    "ary": "ary_Arab", "arz": "arz_Arab", "as": "asm_Beng", "ast": "ast_Latn", "awa": "awa_Deva",
    "ay": "ayr_Latn", "az": "azj_Latn", "ba": "bak_Cyrl", "ban": "ban_Latn", "be": "bel_Cyrl",
    "bem": "bem_Latn", "bg": "bul_Cyrl", "bho": "bho_Deva", "bjn": "bjn_Latn",
    "bjn-Arab": "bjn_Arab", "bm": "bam_Latn", "bn": "ben_Beng", "bo": "bod_Tibt",
    "bs": "bos_Latn", "bug": "bug_Latn", "ca": "cat_Latn", "ceb": "ceb_Latn", "ckb": "ckb_Arab",
    "crh": "crh_Latn", "cs": "ces_Latn", "cy": "cym_Latn", "da": "dan_Latn", "de": "deu_Latn",
    "din": "dik_Latn", "dyu": "dyu_Latn", "dz": "dzo_Tibt", "ee": "ewe_Latn", "el": "ell_Grek",
    "eo": "epo_Latn", "es": "spa_Latn", "et": "est_Latn", "eu": "eus_Latn", "fa": "pes_Arab",
    "fa-AF": "prs_Arab", "ff": "fuv_Latn", "fi": "fin_Latn", "fil": "tgl_Latn", "fj": "fij_Latn",
    "fo": "fao_Latn", "fon": "fon_Latn", "fr": "fra_Latn", "fur": "fur_Latn", "ga": "gle_Latn",
    "gd": "gla_Latn", "gl": "glg_Latn", "gn": "grn_Latn", "gu": "guj_Gujr", "ha": "hau_Latn",
    "he": "heb_Hebr", "hi": "hin_Deva", "hr": "hrv_Latn", "ht": "hat_Latn", "hu": "hun_Latn",
    "hy": "hye_Armn", "id": "ind_Latn", "ig": "ibo_Latn", "ilo": "ilo_Latn", "is": "isl_Latn",
    "it": "ita_Latn", "ja": "jpn_Jpan", "jv": "jav_Latn", "ka": "kat_Geor", "kab": "kab_Latn",
    "kac": "kac_Latn", "kam": "kam_Latn", "kea": "kea_Latn", "kg": "kon_Latn", "ki": "kik_Latn",
    "kk": "kaz_Cyrl", "km": "khm_Khmr", "kmb": "kmb_Latn", "kn": "kan_Knda", "ko": "kor_Hang",
    "kr": "knc_Latn", "kr-Arab": "knc_Arab", "ks": "kas_Arab", "ks-Deva": "kas_Deva",
    "ku": "kmr_Latn", "ky": "kir_Cyrl", "lb": "ltz_Latn", "lg": "lug_Latn", "li": "lim_Latn",
    "lij": "lij_Latn", "lmo": "lmo_Latn", "ln": "lin_Latn", "lo": "lao_Laoo", "lt": "lit_Latn",
    "ltg": "ltg_Latn", "lua": "lua_Latn", "luo": "luo_Latn", "lus": "lus_Latn", "lv": "lvs_Latn",
    "mag": "mag_Deva", "mai": "mai_Deva", "mg": "plt_Latn", "mi": "mri_Latn", "min": "min_Latn",
    "mk": "mkd_Cyrl", "ml": "mal_Mlym", "mn": "khk_Cyrl", "mni": "mni_Beng", "mos": "mos_Latn",
    "mr": "mar_Deva", "ms": "zsm_Latn", "mt": "mlt_Latn", "my": "mya_Mymr", "nb": "nob_Latn",
    "ne": "npi_Deva", "nl": "nld_Latn", "nn": "nno_Latn", "no": "nob_Latn", "nso": "nso_Latn",
    "nus": "nus_Latn", "ny": "nya_Latn", "oc": "oci_Latn", "om": "gaz_Latn", "or": "ory_Orya",
    "pa": "pan_Guru", "pag": "pag_Latn", "pap": "pap_Latn", "pl": "pol_Latn", "ps": "pbt_Arab",
    "pt": "por_Latn", "qu": "quy_Latn", "rn": "run_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl",
    "rw": "kin_Latn", "sa": "san_Deva", "sat": "sat_Beng", "sc": "srd_Latn", "scn": "scn_Latn",
    "sd": "snd_Arab", "sg": "sag_Latn", "shn": "shn_Mymr", "si": "sin_Sinh", "sk": "slk_Latn",
    "sl": "slv_Latn", "sm": "smo_Latn", "sn": "sna_Latn", "so": "som_Latn", "sq": "als_Latn",
    "sr": "srp_Cyrl", "ss": "ssw_Latn", "st": "sot_Latn", "su": "sun_Latn", "sv": "swe_Latn",
    "sw": "swh_Latn", "szl": "szl_Latn", "ta": "tam_Taml", "taq": "taq_Latn",
    "taq-Tfng": "taq_Tfng", "te": "tel_Telu", "tg": "tgk_Cyrl", "th": "tha_Thai",
    "ti": "tir_Ethi", "tk": "tuk_Latn", "tl": "tgl_Latn", "tn": "tsn_Latn", "tpi": "tpi_Latn",
    "tr": "tur_Latn", "ts": "tso_Latn", "tt": "tat_Cyrl", "tum": "tum_Latn", "tw": "twi_Latn",
    "tzm": "tzm_Tfng", "ug": "uig_Arab", "uk": "ukr_Cyrl", "umb": "umb_Latn", "ur": "urd_Arab",
    "uz": "uzn_Latn", "vec": "vec_Latn", "vi": "vie_Latn", "war": "war_Latn", "wo": "wol_Latn",
    "xh": "xho_Latn", "yi": "ydd_Hebr", "yo": "yor_Latn", "yue": "yue_Hant", "zh": "zho_Hans",
    "zh-Hans": "zho_Hans", "zh-Hant": "zho_Hant", "zu": "zul_Latn",
}  # fmt: skip

# M2M-100's own codes (its tokenizer's "m2m100" list); most are the project's codes.
_M2M100_OWN = (
    "af am ar ast az ba be bg bn br bs ca ceb cs cy da de el en es et fa ff fi fr fy ga gd gl "
    "gu ha he hi hr ht hu hy id ig ilo is it ja jv ka kk km kn ko lb lg ln lo lt lv mg mk ml "
    "mn mr ms my ne nl no ns oc or pa pl ps pt ro ru sd si sk sl so sq sr ss su sv sw ta th tl "
    "tn tr uk ur uz vi wo xh yi yo zh zu"
).split()
# project code -> M2M-100 code
M2M100_CODES: dict[str, str] = {code: code for code in _M2M100_OWN if code != "ns"} | {
    "nb": "no",  # M2M-100's Norwegian is Bokmål data; Nynorsk ("nn") stays unmapped
    "nso": "ns",  # M2M-100 calls Northern Sotho "ns"
    "fil": "tl",  # CLDR's Filipino is the Tagalog standard M2M-100 calls "tl"
    "zh-Hans": "zh",  # M2M-100 has one Chinese for both scripts
    "zh-Hant": "zh",
}

# The target: English in each scheme (the token forced as the first generated one).
ENGLISH_TARGET = {"nllb": "eng_Latn", "m2m100": "en", "marian": "en"}


def model_language_code(scheme: str, lang: str) -> str | None:
    """The code `scheme`'s models use for project language `lang`, or None if they have none.

    A region variant falls back to its language ("pt-BR" -> "pt"); a script variant does not
    (a Traditional Chinese text is not Simplified Chinese), unless the table lists it.
    """
    if scheme == "marian":
        # opus-mt names its models and language tokens with the ISO 639-1 code itself.
        return lang.replace("_", "-").split("-", 1)[0].lower()
    table = _table(scheme)
    normalised = lang.replace("_", "-")
    if normalised in table:
        return table[normalised]
    parts = normalised.split("-")
    has_script = any(len(part) == 4 and part.isalpha() for part in parts[1:])
    return None if has_script else table.get(parts[0].lower())


def unmapped_languages(scheme: str, languages: Iterable[str]) -> list[str]:
    """The languages (sorted, each once) `scheme` has no code for."""
    return sorted({lang for lang in languages if model_language_code(scheme, lang) is None})


def model_language_codes(scheme: str, languages: Iterable[str], config_key: str) -> dict[str, str]:
    """Project code -> model code for each language; an unmapped one is a ValueError naming
    `config_key` (the translator's) and the languages."""
    languages = list(languages)
    missing = unmapped_languages(scheme, languages)
    if missing:
        raise ValueError(
            f"{config_key}: language_codes {scheme!r} has no code for "
            f"{', '.join(missing)}; choose another translator for them, or set "
            "stages.translation.untranslatable: keep to leave them untranslated"
        )
    return {lang: code for lang in languages if (code := model_language_code(scheme, lang))}


def _table(scheme: str) -> dict[str, str]:
    if scheme == "nllb":
        return NLLB_CODES
    if scheme == "m2m100":
        return M2M100_CODES
    raise ValueError(f"unknown language code scheme {scheme!r}; expected one of {CODE_SCHEMES}")
