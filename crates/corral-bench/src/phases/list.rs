//! The list phase: one full list and a paginated one, timed and counted.

use super::*;
#[derive(Deserialize, Default)]
pub struct ListBody {
    #[serde(default)]
    pub metadata: Option<ListMeta>,
    #[serde(default)]
    pub items: Option<Vec<Item>>,
}

#[derive(Deserialize, Default)]
pub struct ListMeta {
    #[serde(rename = "resourceVersion", default)]
    pub resource_version: Option<String>,
    #[serde(rename = "continue", default)]
    pub cont: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Item {
    #[serde(default)]
    pub metadata: Option<ItemMeta>,
}

#[derive(Deserialize, Default)]
pub struct ItemMeta {
    #[serde(default)]
    pub name: Option<String>,
}

impl ListBody {
    /// Names of the benchmark's own objects; the cluster may keep others in the
    /// namespace (such as the `kube-root-ca.crt` ConfigMap every namespace gets).
    fn names(self) -> Vec<String> {
        self.items
            .unwrap_or_default()
            .into_iter()
            .map(|i| i.metadata.and_then(|m| m.name).unwrap_or_default())
            .filter(|n| n.starts_with("cm-"))
            .collect()
    }
    fn cont(&self) -> Option<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.cont.clone())
            .filter(|c| !c.is_empty())
    }
}

/// One paginated traversal; returns (names, pages, bytes).
pub async fn list_paged(
    ctx_target: &Target,
    ns: &str,
    page_size: usize,
    deadline: Instant,
) -> Result<(Vec<String>, u64, u64)> {
    let mut conn = ctx_target.conn();
    let base = format!(
        "/api/v1/namespaces/{ns}/configmaps?limit={}",
        page_size.max(1)
    );
    let mut names = Vec::new();
    let mut cont: Option<String> = None;
    let (mut pages, mut bytes) = (0u64, 0u64);
    // Bounded: at most 100k pages and the phase deadline.
    for _ in 0..100_000 {
        if Instant::now() >= deadline {
            bail!("paginated list did not finish before the phase deadline");
        }
        let path = match &cont {
            Some(c) => format!("{base}&continue={}", encode_query_value(c)),
            None => base.clone(),
        };
        let r = conn.request(Method::GET, &path, None).await?;
        if !r.is_success() {
            bail!("GET {path}: {}", r.error_message());
        }
        pages += 1;
        bytes += r.body.len() as u64;
        let body: ListBody = serde_json::from_slice(&r.body)
            .with_context(|| format!("GET {path}: bad list JSON"))?;
        cont = body.cont();
        names.extend(body.names());
        if cont.is_none() {
            return Ok((names, pages, bytes));
        }
    }
    bail!("paginated list exceeded 100000 pages")
}

#[derive(Debug, Clone, Serialize)]
pub struct ListResult {
    pub expected: Option<u64>,
    pub full_items: Vec<u64>,
    pub full_ms: Vec<f64>,
    pub full_median_ms: f64,
    pub full_bytes: u64,
    pub paged_items: Vec<u64>,
    pub paged_ms: Vec<f64>,
    pub paged_median_ms: f64,
    pub page_size: usize,
    pub pages: u64,
    pub count_ok: bool,
    pub problems: Vec<String>,
    pub full_cost: Cost,
    pub paged_cost: Cost,
    pub server_cpu_s_per_full_list: Option<f64>,
    pub server_cpu_s_per_paged_list: Option<f64>,
}

impl ListResult {
    pub fn line(&self) -> String {
        let items = self.full_items.first().copied().unwrap_or(0);
        let mut s = format!(
            "list: {items} items in one call: median {} of {}; in pages of {} ({} pages): median {}; count {}",
            fmt_ms(self.full_median_ms),
            self.full_ms.len(),
            self.page_size,
            self.pages,
            fmt_ms(self.paged_median_ms),
            if self.count_ok { "ok" } else { "WRONG" },
        );
        if let Some(v) = self.server_cpu_s_per_full_list {
            s.push_str(&format!("  server {v:.3} cpu-s/list"));
        }
        if let Some(v) = self.server_cpu_s_per_paged_list {
            s.push_str(&format!(", {v:.3} cpu-s/paged list"));
        }
        let runs = (self.full_ms.len() + self.paged_ms.len()) as u64;
        if let Some(v) = per(
            self.full_cost.client_cpu_s + self.paged_cost.client_cpu_s,
            runs,
            1.0,
        ) {
            s.push_str(&format!("  client {v:.3} cpu-s/list"));
        }
        for p in &self.problems {
            s.push_str(&format!("\n  problem: {p}"));
        }
        s
    }
}

/// Time a full list and a paginated list, --list-runs times each.
pub async fn list(ctx: &Ctx, expected: Option<usize>) -> Result<ListResult> {
    let runs = ctx.args.list_runs.max(1);
    let deadline = ctx.phase_deadline();
    let mut problems = Vec::new();
    let mut conn = ctx.target.conn();
    let path = ctx.cm_path();

    let probe = Probe::start(ctx.args.server_pid);
    let (mut full_ms, mut full_items, mut full_bytes) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..runs {
        if Instant::now() >= deadline {
            problems.push("phase deadline reached during full lists".into());
            break;
        }
        let t = Instant::now();
        let r = conn.request(Method::GET, &path, None).await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !r.is_success() {
            bail!("GET {path}: {}", r.error_message());
        }
        let body: ListBody = serde_json::from_slice(&r.body)
            .with_context(|| format!("GET {path}: bad list JSON"))?;
        if let Some(c) = body.cont() {
            problems.push(format!("unpaginated list returned a continue token {c:?}"));
        }
        let names = body.names();
        let unique = names.iter().collect::<HashSet<_>>().len();
        if unique != names.len() {
            problems.push(format!(
                "full list has {} duplicate names",
                names.len() - unique
            ));
        }
        full_items.push(names.len() as u64);
        full_bytes = r.body.len() as u64;
        full_ms.push(ms);
    }
    let full_cost = probe.finish();

    let probe = Probe::start(ctx.args.server_pid);
    let (mut paged_ms, mut paged_items, mut pages) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..runs {
        let t = Instant::now();
        let (names, p, _bytes) =
            list_paged(&ctx.target, &ctx.ns, ctx.args.page_size, deadline).await?;
        paged_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let unique = names.iter().collect::<HashSet<_>>().len();
        if unique != names.len() {
            problems.push(format!(
                "paginated list has {} duplicate names",
                names.len() - unique
            ));
        }
        paged_items.push(unique as u64);
        pages = p;
    }
    let paged_cost = probe.finish();

    let want = expected.map(|e| e as u64).or(full_items.first().copied());
    let mut count_ok = true;
    for (what, counts) in [("full", &full_items), ("paginated", &paged_items)] {
        for c in counts.iter() {
            if Some(*c) != want {
                count_ok = false;
                problems.push(format!(
                    "{what} list returned {c} items, expected {}",
                    want.unwrap_or(0)
                ));
            }
        }
    }
    if !problems.is_empty() {
        count_ok = false;
    }
    Ok(ListResult {
        expected: expected.map(|e| e as u64),
        server_cpu_s_per_full_list: full_cost
            .server_cpu_s
            .and_then(|c| per(c, full_ms.len() as u64, 1.0)),
        server_cpu_s_per_paged_list: paged_cost
            .server_cpu_s
            .and_then(|c| per(c, paged_ms.len() as u64, 1.0)),
        full_median_ms: median(&full_ms).unwrap_or(f64::NAN),
        paged_median_ms: median(&paged_ms).unwrap_or(f64::NAN),
        full_items,
        full_ms,
        full_bytes,
        paged_items,
        paged_ms,
        page_size: ctx.args.page_size,
        pages,
        count_ok,
        problems,
        full_cost,
        paged_cost,
    })
}

// ---------------------------------------------------------------- watch
