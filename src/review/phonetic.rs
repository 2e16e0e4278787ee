//! Sound-alike keys: toneless pinyin with fuzzy initials and finals for Chinese, a coarse
//! consonant-skeleton key for English, and a romanization of Han transliterations so an English
//! term written phonetically in Chinese characters can be compared with the term.

use pinyin::ToPinyinMulti;

/// One reading of a Han character: toneless pinyin (`ü` written `v`) and tone (0 = neutral or
/// unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// Toneless pinyin, e.g. `"sheng"`, `"lv"`.
    pub plain: String,
    /// Tone number 1–4, 0 when neutral or unknown.
    pub tone: u8,
}

/// Every reading of `c` (the most common first); empty for a character without pinyin.
pub fn readings(c: char) -> Vec<Reading> {
    let Some(multi) = c.to_pinyin_multi() else {
        return Vec::new();
    };
    multi
        .into_iter()
        .map(|p| {
            let numbered = p.with_tone_num_end();
            let tone = numbered.chars().last().and_then(|d| d.to_digit(10)).unwrap_or(0) as u8;
            Reading {
                plain: p.plain().replace('ü', "v"),
                tone,
            }
        })
        .collect()
}

/// A toneless syllable with the usual fuzzy pairs folded: initials z/zh, c/ch, s/sh, n/l, f/h;
/// finals an/ang, en/eng, in/ing. Two syllables that fold to the same string sound alike to a
/// speaker (or recognizer) that confuses these pairs.
pub fn fuzzy_syllable(plain: &str) -> String {
    let (initial, fin) = split_syllable(plain);
    let initial = match initial {
        "zh" => "z",
        "ch" => "c",
        "sh" => "s",
        "n" => "l",
        "h" => "f",
        other => other,
    };
    let fin = if let Some(stem) = fin.strip_suffix("ng").filter(|s| s.ends_with(['a', 'e', 'i'])) {
        // ang → an, eng → en, ing → in (ong stays: it has no -n partner)
        format!("{stem}n")
    } else {
        fin.to_string()
    };
    format!("{initial}{fin}")
}

/// Syllable similarity of the same toneless pinyin with the same tone.
pub const TONE_EXACT: f32 = 0.95;

/// How alike two Han characters sound, over all their readings: 1 for the same character,
/// 0.95 same pinyin and tone, 0.85 same pinyin, 0.75 / 0.7 fuzzy-equal with / without the same
/// tone, else 0.
pub fn syllable_similarity(a: char, ra: &[Reading], b: char, rb: &[Reading]) -> f32 {
    if a == b {
        return 1.0;
    }
    let mut best: f32 = 0.0;
    for x in ra {
        for y in rb {
            let same_tone = x.tone == y.tone || x.tone == 0 || y.tone == 0;
            let s = if x.plain == y.plain {
                if same_tone { TONE_EXACT } else { 0.85 }
            } else if fuzzy_syllable(&x.plain) == fuzzy_syllable(&y.plain) {
                if same_tone { 0.75 } else { 0.7 }
            } else {
                0.0
            };
            best = best.max(s);
        }
    }
    best
}

/// How alike two Han characters sound when [`syllable_similarity`] finds them unalike: 0.6 for
/// the same final after initials of one place of articulation (群 qun / 勋 xun: j q x, z c s, b p,
/// d t, g k), 0.5 for the same final after any initial (网 wang / 黄 huang: `w` and `y` read as
/// the medials u and i) and for the same initial before finals one trailing vowel apart (句 ju /
/// 觉 jue, 杜 du / 多 duo: a glide a recognizer drops or adds), else 0; the best over both
/// characters' readings. Loose on purpose: it only lets the acoustic check see a window (see
/// `finalize::verify`), which then decides.
pub fn syllable_likeness(ra: &[Reading], rb: &[Reading]) -> f32 {
    let group = |i: &str| {
        ["jqx", "zcs", "bp", "dt", "gk"]
            .iter()
            .position(|g| i.len() == 1 && g.contains(i))
    };
    let mut best: f32 = 0.0;
    for x in ra {
        for y in rb {
            let ((ia, fa), (ib, fb)) = (initial_and_final(&x.plain), initial_and_final(&y.plain));
            if fa != fb {
                if ia == ib && one_trailing_vowel_apart(&fa, &fb) {
                    best = best.max(0.5);
                }
                continue;
            }
            let same_place = ia == ib || group(&ia).is_some_and(|g| group(&ib) == Some(g));
            best = best.max(if same_place { 0.6 } else { 0.5 });
        }
    }
    best
}

/// Whether one final is the other with one more vowel at its end (ü / üe, u / uo, i / ie, a / ai,
/// e / ei, o / ou, ia / iao): not a nasal coda, which [`fuzzy_syllable`] already pairs.
fn one_trailing_vowel_apart(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    let vowel = |c: char| "aeiouv".contains(c);
    long.len() == short.len() + 1
        && long.starts_with(short)
        && short.ends_with(vowel)
        && long.ends_with(['e', 'i', 'o', 'u'])
}

/// A toneless syllable as initial and final, with the spelling rules of pinyin undone so finals
/// compare by sound: `w`/`y` become the medials u/i (wang → ∅ + uang, yi → ∅ + i, yu → ∅ + ü),
/// `u` after j q x is ü (qun → q + ün), and the retroflex initials fold to z c s.
fn initial_and_final(plain: &str) -> (String, String) {
    let (initial, fin) = split_syllable(plain);
    let initial = match initial {
        "zh" => "z",
        "ch" => "c",
        "sh" => "s",
        other => other,
    };
    // the medial `m` a glide initial stands for, unless the final already starts with it
    let glide = |m: char| {
        if fin.starts_with(m) {
            fin.to_string()
        } else {
            format!("{m}{fin}")
        }
    };
    match initial {
        "w" => (String::new(), glide('u')),
        "y" if fin.starts_with('u') => (String::new(), format!("v{}", &fin[1..])),
        "y" => (String::new(), glide('i')),
        "j" | "q" | "x" if fin.starts_with('u') => (initial.to_string(), format!("v{}", &fin[1..])),
        _ => (initial.to_string(), fin.to_string()),
    }
}

/// How alike two acronyms sound spelled out letter by letter, 0..=1: one minus their edit
/// distance over the longer one's length, where two letters whose names rhyme cost half a
/// substitution (B C D E G P T V Z "-ee", A H J K "-ay", F L M N S X "e-", I Y, Q U W). "GR" and
/// "PR" are 0.75 alike, where their spellings alone are 0.5. Other characters (digits) must be
/// equal.
pub fn spelled_similarity(a: &str, b: &str) -> f32 {
    const RHYMES: [&str; 5] = ["bcdegptvz", "ahjk", "flmnsx", "iy", "quw"];
    let rhyme = |c: char| RHYMES.iter().position(|r| r.contains(c.to_ascii_lowercase()));
    let cost = |x: char, y: char| {
        if x.eq_ignore_ascii_case(&y) {
            0.0
        } else if rhyme(x).is_some() && rhyme(x) == rhyme(y) {
            0.5
        } else {
            1.0
        }
    };
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let n = a.len().max(b.len());
    if n == 0 {
        return 1.0;
    }
    let mut prev: Vec<f32> = (0..=b.len()).map(|j| j as f32).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut cur = vec![(i + 1) as f32; b.len() + 1];
        for (j, &y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + cost(x, y)).min(prev[j + 1] + 1.0).min(cur[j] + 1.0);
        }
        prev = cur;
    }
    1.0 - prev[b.len()] / n as f32
}

/// Split a toneless syllable into initial and final.
fn split_syllable(s: &str) -> (&str, &str) {
    for two in ["zh", "ch", "sh"] {
        if let Some(rest) = s.strip_prefix(two) {
            return (two, rest);
        }
    }
    match s.chars().next() {
        Some(c) if "bpmfdtnlgkhjqxrzcsyw".contains(c) && s.len() > 1 => s.split_at(1),
        _ => ("", s),
    }
}

/// A coarse English sound key: the consonant skeleton of the spelling with letters that sound
/// alike (or that recognizers swap) merged: b/p → P, d/t/th → T, hard c/g/k/q/ck → K, soft c and
/// s/z → S, soft g/j → J, f/ph → F, v/w → W, x → KS; vowels and y are dropped except a leading
/// one (→ A), h is kept only at the start; adjacent repeats collapse (not across a vowel). Digits are kept. `l` and
/// `r` stay apart (see [`fold_liquids`] for cross-script matching). Examples: "Kubernetes" and
/// "CuberNets" → `KPRNTS`; "PostgreSQL" → `PSTKRSKL`.
pub fn english_key(letters: &str) -> String {
    let s: Vec<char> = letters
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut out = String::new();
    let push = |out: &mut String, k: char| {
        if !out.ends_with(k) {
            out.push(k);
        }
    };
    let vowel = |c: Option<&char>| c.is_some_and(|c| "aeiouy".contains(*c));
    let front = |c: Option<&char>| c.is_some_and(|c| "eiy".contains(*c));
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1);
        match c {
            'a' | 'e' | 'i' | 'o' | 'u' | 'y' => {
                if i == 0 {
                    out.push('A');
                } else {
                    // A vowel separates two equal consonants ("papa" → PP is wrong: keep both).
                    if out.ends_with(|k: char| k != '_') {
                        out.push('_');
                    }
                }
            }
            '0'..='9' => out.push(c),
            'b' | 'p' => {
                if c == 'p' && next == Some(&'h') {
                    push(&mut out, 'F');
                    i += 1;
                } else {
                    push(&mut out, 'P');
                }
            }
            'd' | 't' => {
                if c == 't' && next == Some(&'h') {
                    i += 1;
                }
                push(&mut out, 'T');
            }
            'c' => {
                if next == Some(&'h') {
                    push(&mut out, 'K');
                    i += 1;
                } else if front(next) {
                    push(&mut out, 'S');
                } else {
                    push(&mut out, 'K');
                }
            }
            'g' => {
                if i > 0 && s[i - 1] == 'n' && !vowel(next) {
                    // "ng" is one nasal sound
                } else if front(next) && i + 2 < s.len() {
                    push(&mut out, 'J');
                } else {
                    push(&mut out, 'K');
                }
            }
            'k' | 'q' => push(&mut out, 'K'),
            'j' => push(&mut out, 'J'),
            's' | 'z' => {
                if c == 's' && next == Some(&'h') {
                    i += 1;
                }
                push(&mut out, 'S');
            }
            'x' => {
                if i == 0 {
                    push(&mut out, 'S');
                } else {
                    push(&mut out, 'K');
                    push(&mut out, 'S');
                }
            }
            'f' => push(&mut out, 'F'),
            'v' | 'w' => {
                if c == 'w' && !vowel(next) {
                    // "ow", "aw": a vowel sound
                } else {
                    push(&mut out, 'W');
                }
            }
            'h' if i == 0 && vowel(next) => push(&mut out, 'H'),
            'l' => push(&mut out, 'L'),
            'r' => push(&mut out, 'R'),
            'm' => push(&mut out, 'M'),
            'n' => push(&mut out, 'N'),
            _ => {}
        }
        i += 1;
    }
    out.retain(|c| c != '_');
    out
}

/// Merge `R` into `L` (Chinese transliterations render both with l- syllables or 尔).
pub fn fold_liquids(key: &str) -> String {
    key.replace('R', "L")
}

/// Characters used to write foreign names phonetically (the core of the standard
/// English–Chinese transliteration table, plus a few that recognizers favour). A run of Han
/// characters is compared with English terms only when every character is one of these.
pub const TRANSLITERATION_CHARS: &str = "阿埃艾爱安昂奥澳巴拜班邦堡鲍贝本比彼宾波伯泊博布查达戴丹道德登邓迪蒂\
丁东杜顿多厄恩尔法凡范菲斐芬丰佛夫弗伏福盖甘冈高戈格根贡古瓜圭哈海汉豪赫亨洪胡华怀霍基吉加贾\
杰金卡凯坎康考柯科克肯库酷夸奎昆拉莱兰朗劳勒雷蕾累冷里利莉连林琳灵隆卢鲁路伦罗洛马玛迈麦曼\
毛梅门蒙米密敏明莫默姆穆纳娜奈南内妮尼宁纽努诺欧帕派潘庞佩彭皮珀普奇齐恰乔切钦琼丘萨塞赛\
桑瑟森沙莎山尚绍舍申圣施什史士舒斯松苏索塔泰坦汤唐陶特提汀廷通图托瓦威韦维温文沃乌西希锡\
夏谢辛欣休逊雅亚扬耶伊依英尤约扎赞泽詹章兹祖佐";

/// Whether `c` is a transliteration character (see [`TRANSLITERATION_CHARS`]).
pub fn is_transliteration_char(c: char) -> bool {
    TRANSLITERATION_CHARS.contains(c)
}

/// An English-like spelling of a pinyin sequence, for [`english_key`]: pinyin letters that do
/// not read as in English are respelled (x → s, q → ch, zh → j, c → ts, er → r).
pub fn romanize_pinyin<'a>(syllables: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for s in syllables {
        if s == "er" {
            out.push('r');
            continue;
        }
        let (initial, fin) = split_syllable(s);
        let initial = match initial {
            "x" => "s",
            "q" => "ch",
            "zh" => "j",
            "c" => "ts",
            other => other,
        };
        out.push_str(initial);
        out.push_str(fin);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinyin_readings_and_fuzzy_pairs() {
        let r = readings('昇');
        assert_eq!(
            r[0],
            Reading {
                plain: "sheng".into(),
                tone: 1
            }
        );
        assert_eq!(readings('绿')[0].plain, "lv");
        assert_eq!(fuzzy_syllable("zheng"), fuzzy_syllable("zen"));
        assert_eq!(fuzzy_syllable("shi"), fuzzy_syllable("si"));
        assert_eq!(fuzzy_syllable("nan"), fuzzy_syllable("lang"));
        assert_eq!(fuzzy_syllable("hu"), fuzzy_syllable("fu"));
        assert_eq!(fuzzy_syllable("xing"), fuzzy_syllable("xin"));
        assert_ne!(fuzzy_syllable("gong"), fuzzy_syllable("gon"));
        assert_ne!(fuzzy_syllable("ma"), fuzzy_syllable("mo"));
    }

    #[test]
    fn english_keys_merge_respellings() {
        assert_eq!(english_key("Kubernetes"), english_key("CuberNets"));
        assert_eq!(english_key("Kubernetes"), "KPRNTS");
        assert_eq!(english_key("PostgreSQL"), english_key("PostGurseQL"));
        assert_eq!(english_key("Grafana"), english_key("Graphana"));
        assert_eq!(english_key("Jira"), english_key("Gira"));
        assert_ne!(english_key("Kafka"), english_key("Kubernetes"));
    }

    #[test]
    fn transliterations_romanize_close_to_the_english_key() {
        let roman = |s: &str| {
            romanize_pinyin(
                s.chars()
                    .map(|c| readings(c)[0].plain.clone())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            )
        };
        assert_eq!(
            fold_liquids(&english_key(&roman("克劳德"))),
            fold_liquids(&english_key("Claude"))
        );
        assert_eq!(
            fold_liquids(&english_key(&roman("米尔沃斯"))),
            fold_liquids(&english_key("Milvus"))
        );
        assert!("克劳德".chars().all(is_transliteration_char));
        assert!(!"我们".chars().all(is_transliteration_char));
    }

    #[test]
    fn syllables_with_the_same_final_are_somewhat_alike() {
        let r = |c: char| readings(c);
        // 群 qun / 勋 xun: the same final (ün) after initials of one place
        assert_eq!(syllable_likeness(&r('群'), &r('勋')), 0.6);
        // 网 wang / 黄 huang: the same final (uang) once w is read as the medial u
        assert_eq!(syllable_likeness(&r('网'), &r('黄')), 0.5);
        // 云 yun / 军 jun: ün both
        assert!(syllable_likeness(&r('云'), &r('军')) >= 0.5);
        // different finals: nothing
        assert_eq!(syllable_likeness(&r('网'), &r('红')), 0.0);
        assert_eq!(syllable_likeness(&r('人'), &r('然')), 0.0);
        // the same initial, finals one trailing vowel apart: 句 ju / 觉 jue, 杜 du / 多 duo
        assert_eq!(syllable_likeness(&r('句'), &r('觉')), 0.5);
        assert_eq!(syllable_likeness(&r('杜'), &r('多')), 0.5);
        // a nasal coda is not a vowel (fuzzy_syllable pairs an / ang), nor is another initial
        assert_eq!(syllable_likeness(&r('巴'), &r('班')), 0.0);
        assert_eq!(syllable_likeness(&r('路'), &r('觉')), 0.0);
    }

    #[test]
    fn acronyms_whose_letter_names_rhyme_are_alike() {
        assert_eq!(spelled_similarity("gr", "pr"), 0.75);
        assert_eq!(spelled_similarity("GR", "pr"), 0.75);
        assert_eq!(spelled_similarity("pcs", "qps"), 0.5);
        assert_eq!(spelled_similarity("pr", "pr"), 1.0);
        // names that do not rhyme count as a whole substitution, digits must match
        assert!((spelled_similarity("k95", "p95") - 2.0 / 3.0).abs() < 1e-6);
        assert!((spelled_similarity("p96", "p95") - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(spelled_similarity("", ""), 1.0);
        assert_eq!(spelled_similarity("ci", "cicd"), 0.5);
    }
}
