//! Keeping the dataset in shape: `compact` (merge small files),
//! `rehunt` (re-run the activity analysis over stored events) and
//! `rehunt_mail` (re-attribute stored mail with a new family model).

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::RecordBatch;
use botscope_activity::{analyze, ActivityConfig};
use botscope_event::Event;

use crate::store::Store;
use crate::tables::{self, activity_rows, ActivityRow, Table};
use crate::Error;

/// What [`compact`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Partitions rewritten (`table/date=…`).
    pub partitions: Vec<String>,
    pub files_before: usize,
    pub files_after: usize,
    pub rows: u64,
    /// Partitions left as they are, with why (parts whose columns of one
    /// name have types that do not convert).
    pub skipped: Vec<String>,
}

/// `batches` (parts of one partition, written at different schema
/// versions) under one schema: the table's columns in order, then any
/// column a part adds (schema evolution), each missing column null.
fn unify(
    base: arrow_schema::SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<RecordBatch>, String> {
    use arrow_schema::{Field, Schema};
    let mut fields: Vec<Field> = base.fields().iter().map(|f| (**f).clone()).collect();
    for b in batches {
        for f in b.schema().fields() {
            match fields.iter().find(|have| have.name() == f.name()) {
                Some(have) if have.data_type() == f.data_type() => {}
                Some(have)
                    if datafusion::arrow::compute::can_cast_types(
                        f.data_type(),
                        have.data_type(),
                    ) => {}
                Some(have) => {
                    return Err(format!(
                        "column {} is {} in one part, {} in another; not compacted",
                        f.name(),
                        have.data_type(),
                        f.data_type()
                    ))
                }
                None => fields.push(Field::new(f.name(), f.data_type().clone(), true)),
            }
        }
    }
    let schema = std::sync::Arc::new(Schema::new(fields));
    batches
        .iter()
        .map(|b| {
            if b.schema() == schema {
                return Ok(b.clone());
            }
            let cols = schema
                .fields()
                .iter()
                .map(|f| match b.column_by_name(f.name()) {
                    Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
                    Some(c) => datafusion::arrow::compute::cast(c, f.data_type())
                        .map_err(|e| format!("column {}: {e}", f.name())),
                    None => Ok(arrow_array::new_null_array(f.data_type(), b.num_rows())),
                })
                .collect::<Result<Vec<_>, String>>()?;
            RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
        })
        .collect()
}

/// Merge the part files of every partition that has more than one into
/// one file (several when over a million rows), one transaction per
/// partition: readers see either the old files or the merged ones. The
/// `mail_hourly` rollup is re-aggregated on the way (rows of the same
/// hour and key summed).
pub fn compact(store: &Store) -> Result<CompactReport, Error> {
    let mut rep = CompactReport::default();
    for t in Table::ALL {
        for (date, files) in store.parts(t)? {
            if files.len() < 2 {
                continue;
            }
            let mut batches = Vec::new();
            for f in &files {
                batches.extend(store.read_part(f)?);
            }
            let merged: Vec<RecordBatch> = if t == Table::MailHourly {
                let mut acc: BTreeMap<_, (i64, i64)> = BTreeMap::new();
                for b in &batches {
                    for r in tables::read_mail_hourly(b)? {
                        let e = acc
                            .entry((r.hour, r.family, r.category, r.brand, r.campaign))
                            .or_insert((0, 0));
                        e.0 += r.messages;
                        e.1 = e.1.saturating_add(r.bytes);
                    }
                }
                let rows: Vec<tables::MailHourly> = acc
                    .into_iter()
                    .map(
                        |((hour, family, category, brand, campaign), (m, b))| tables::MailHourly {
                            hour,
                            family,
                            category,
                            brand,
                            campaign,
                            messages: m,
                            bytes: b,
                        },
                    )
                    .collect();
                vec![tables::mail_hourly_batch(&rows)?]
            } else {
                match unify(t.schema(), &batches) {
                    Ok(b) => b,
                    Err(why) => {
                        rep.skipped.push(format!("{}/date={date}: {why}", t.name()));
                        continue;
                    }
                }
            };
            let mut w = store.writer();
            w.write_batches(t, &date, &merged)?;
            w.remove_files(files.clone(), crate::store::Op::Compact);
            let c = w.commit(Vec::new())?;
            rep.partitions.push(format!("{}/date={date}", t.name()));
            rep.files_before += files.len();
            rep.files_after += c.files;
            rep.rows += c.rows.values().sum::<u64>();
        }
    }
    Ok(rep)
}

/// VACUUM every table of the store: delete the data files that left a
/// table more than `retain_hours` ago, and files that no commit names
/// (parts of a writer that died before committing) as old. Returns the
/// number of files deleted. Time travel to a version that read a deleted
/// file no longer works.
pub fn vacuum(store: &Store, retain_hours: u64) -> Result<usize, Error> {
    use deltalake::operations::vacuum::VacuumMode;
    let mut deleted = 0;
    let names: Vec<&str> = Table::ALL
        .iter()
        .map(|t| t.name())
        .chain(std::iter::once(crate::store::INPUTS))
        .collect();
    for name in names {
        let url = crate::delta::table_url(store.root(), name)?;
        deleted += crate::delta::block(async {
            let Some(t) = crate::delta::load(&url).await? else {
                return Ok::<usize, Error>(0);
            };
            let (_, metrics) = t
                .vacuum()
                .with_retention_period(chrono::Duration::hours(retain_hours.min(1 << 30) as i64))
                .with_enforce_retention_duration(false)
                .with_mode(VacuumMode::Full)
                .await
                .map_err(crate::delta::dl)?;
            Ok(metrics.files_deleted.len())
        })?;
    }
    Ok(deleted)
}

/// Activity thresholds from a TOML rules file: any field of
/// [`ActivityConfig`] (same names, see its documentation), the rest at
/// their defaults; unknown names are refused. `ad_filters_file` names an
/// EasyList-format filter list and `background_file` a list of sandbox
/// background services, both relative to the rules file and added to the
/// shipped ones.
pub fn load_rules(path: &Path) -> Result<ActivityConfig, Error> {
    ActivityConfig::from_toml_file(path).map_err(Error::io)
}

/// What [`rehunt`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RehuntReport {
    /// Host × class verdicts found now and not before.
    pub new: Vec<ActivityRow>,
    /// Verdicts stored before and not found now.
    pub removed: Vec<ActivityRow>,
    /// Verdicts found both times.
    pub unchanged: usize,
    /// Inputs (units) re-analysed.
    pub units: usize,
    /// Stored rows that could not be turned back into events.
    pub unreadable_rows: u64,
}

fn key(r: &ActivityRow) -> (String, String, String) {
    (r.source.clone(), r.host.to_string(), r.class.clone())
}

/// Every stored connection-bound event, grouped by the ingest unit it came
/// from (the logs of one Zeek run are one unit, named by the first).
pub fn stored_events(store: &Store) -> Result<(BTreeMap<String, Vec<Event>>, u64), Error> {
    let mut unit_of: BTreeMap<String, String> = BTreeMap::new();
    for e in store.ledger()? {
        if let Some(first) = e.inputs.first() {
            for i in &e.inputs {
                unit_of.insert(i.path.clone(), first.path.clone());
            }
        }
    }
    let mut units: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    let mut bad = 0;
    let mut put = |src: String, ev: Event| {
        let u = unit_of.get(&src).cloned().unwrap_or(src);
        units.entry(u).or_default().push(ev);
    };
    for b in store.read_table(Table::Conn)? {
        let (rows, skipped) = tables::read_conn(&b)?;
        bad += skipped;
        for (s, r) in rows {
            put(s, Event::Conn(r));
        }
    }
    for b in store.read_table(Table::Http)? {
        for (s, r) in tables::read_http(&b)? {
            put(s, Event::Http(r));
        }
    }
    for b in store.read_table(Table::Smtp)? {
        for (s, r) in tables::read_smtp(&b)? {
            put(s, Event::Smtp(r));
        }
    }
    for b in store.read_table(Table::Dns)? {
        for (s, r) in tables::read_dns(&b)? {
            put(s, Event::Dns(r));
        }
    }
    for b in store.read_table(Table::Ssl)? {
        for (s, r) in tables::read_ssl(&b)? {
            put(s, Event::Ssl(r));
        }
    }
    for b in store.read_table(Table::Irc)? {
        for (s, r) in tables::read_irc(&b)? {
            put(s, Event::Irc(r));
        }
    }
    Ok((units, bad))
}

/// Re-run the activity analysis (with `cfg`, e.g. updated detectors) over
/// the stored conn/http/smtp/dns/ssl/irc events, without re-decoding any
/// capture; report the host × class verdicts that appeared or vanished
/// against the stored `activity` table, and replace that table with the
/// new verdicts in one transaction (unless `dry_run`).
pub fn rehunt(store: &Store, cfg: &ActivityConfig, dry_run: bool) -> Result<RehuntReport, Error> {
    let (units, unreadable) = stored_events(store)?;
    let mut fresh: Vec<ActivityRow> = Vec::new();
    for (src, events) in &units {
        let (hosts, _) = analyze(events, cfg);
        fresh.extend(activity_rows(src, &hosts));
    }
    let mut old: Vec<ActivityRow> = Vec::new();
    for b in store.read_table(Table::Activity)? {
        old.extend(tables::read_activity(&b)?);
    }
    let old_keys: BTreeMap<_, &ActivityRow> = old.iter().map(|r| (key(r), r)).collect();
    let new_keys: BTreeMap<_, &ActivityRow> = fresh.iter().map(|r| (key(r), r)).collect();
    let mut rep = RehuntReport {
        units: units.len(),
        unreadable_rows: unreadable,
        ..RehuntReport::default()
    };
    for (k, r) in &new_keys {
        if old_keys.contains_key(k) {
            rep.unchanged += 1;
        } else {
            rep.new.push((*r).clone());
        }
    }
    for (k, r) in &old_keys {
        if !new_keys.contains_key(k) {
            rep.removed.push((*r).clone());
        }
    }
    if !dry_run && (!rep.new.is_empty() || !rep.removed.is_empty() || old.len() != fresh.len()) {
        let mut w = store.writer();
        w.replace_table(Table::Activity)?;
        w.write_activity(&fresh)?;
        w.commit(Vec::new())?;
    }
    Ok(rep)
}

/// What [`rehunt_mail`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MailRehuntReport {
    /// Messages read.
    pub messages: u64,
    /// Messages whose family changed.
    pub changed: u64,
    /// Messages stored without a fingerprint (written before it was kept,
    /// or not analysable): left as they were.
    pub without_fingerprint: u64,
    /// Changes per (old family, new family), with message counts.
    pub moves: BTreeMap<(String, String), u64>,
    /// Date partitions rewritten.
    pub partitions: usize,
}

/// Re-attribute every stored message's family with `model` from the
/// fingerprint kept in the `mail` table — no original message is read —
/// and rewrite the date partitions where a family or a confidence changed,
/// with their `mail_hourly` rollup, one transaction per date (unless
/// `dry_run`).
/// Category, brand and campaign do not depend on the model and stay.
pub fn rehunt_mail(
    store: &Store,
    model: &botscope_mail::Model,
    dry_run: bool,
) -> Result<MailRehuntReport, Error> {
    let mut rep = MailRehuntReport::default();
    let hourly = store.parts(Table::MailHourly)?;
    for (date, files) in store.parts(Table::Mail)? {
        let mut rows = Vec::new();
        for f in &files {
            for b in store.read_part(f)? {
                rows.extend(tables::read_mail(&b)?);
            }
        }
        let (mut changed, mut touched) = (0u64, 0u64);
        for r in &mut rows {
            rep.messages += 1;
            if r.fingerprint.is_empty() {
                rep.without_fingerprint += 1;
                continue;
            }
            let (family, conf) = model.attribute(&r.fingerprint);
            if family != r.family {
                *rep.moves
                    .entry((r.family.clone(), family.clone()))
                    .or_insert(0) += 1;
                changed += 1;
                r.family = family;
            }
            if changed > 0 || (conf - r.family_confidence).abs() > 1e-9 {
                touched += 1;
            }
            r.family_confidence = conf;
        }
        rep.changed += changed;
        // Rewritten when a family or a confidence changed: after a run,
        // every row carries this model's attribution.
        if touched == 0 || dry_run {
            continue;
        }
        let mut w = store.writer();
        w.write_mail(&rows)?;
        let mut removed: Vec<String> = files
            .iter()
            .chain(hourly.get(&date).into_iter().flatten())
            .cloned()
            .collect();
        removed.sort();
        w.remove_files(removed, crate::store::Op::Rehunt);
        w.commit(Vec::new())?;
        rep.partitions += 1;
    }
    Ok(rep)
}
