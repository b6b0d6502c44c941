//! The terminal UI of `bee run`: a header with the probe, its programs and
//! state; a tab per watched map (events scroll, hash maps update in place,
//! counters show rates, histograms draw bars); keys to switch, pause,
//! filter and quit.

use std::io::{self, Stdout};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bee_object::convention::Output;
use bee_runtime::{ProbeState, Status};
use nix::sys::signalfd::SignalFd;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::crossterm::ExecutableCommand;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::prelude::CrosstermBackend;
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Tabs};
use ratatui::{Frame, Terminal};
use regex::Regex;

use super::model::{MapView, Model};

/// The smallest terminal the UI draws in.
const MIN: (u16, u16) = (50, 12);

/// Refuses a terminal too small to draw in.
pub fn check_size() -> Result<()> {
    if let Ok((w, h)) = terminal::size() {
        if w < MIN.0 || h < MIN.1 {
            bail!("the terminal is {w}x{h}: bee run needs at least {}x{} (or use --no-tty)", MIN.0, MIN.1);
        }
    }
    Ok(())
}

/// Restores the terminal however the UI ends.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = terminal::disable_raw_mode();
        let _ = io::stdout().execute(LeaveAlternateScreen);
    }
}

struct Ui {
    tab: usize,
    paused: Option<Vec<MapView>>,
    /// `/` typed: the text being entered.
    editing: Option<String>,
    filter: Option<Regex>,
    message: Option<String>,
}

/// Runs the UI until `q`, Ctrl-C, a signal or the deadline.
pub fn run(
    model: &Arc<Mutex<Model>>,
    status: &Status,
    sfd: &SignalFd,
    deadline: Option<Instant>,
    program_stats: bool,
) -> Result<()> {
    terminal::enable_raw_mode().context("the terminal cannot enter raw mode (use --no-tty)")?;
    let _restore = Restore;
    io::stdout().execute(EnterAlternateScreen).context("entering the alternate screen")?;
    let mut term = Terminal::new(CrosstermBackend::new(io::stdout())).context("opening the terminal")?;
    let mut ui = Ui { tab: 0, paused: None, editing: None, filter: None, message: None };
    loop {
        health(model, status);
        if program_stats {
            let probe = model.lock().unwrap_or_else(|p| p.into_inner()).probe.clone();
            let costs = super::costs::summary(&super::costs::read(status, &probe));
            model.lock().unwrap_or_else(|p| p.into_inner()).costs = Some(costs);
        }
        draw(&mut term, model, &ui)?;
        if super::signalled(sfd, 0) || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        if !event::poll(Duration::from_millis(250)).context("reading the terminal")? {
            continue;
        }
        match event::read().context("reading the terminal")? {
            Event::Key(k) if k.kind != KeyEventKind::Release && key(&mut ui, k, model) => return Ok(()),
            _ => {} // a resize redraws at the next turn
        }
    }
}

/// Brings what the runtime reports into the UI: a probe that stopped, and
/// per map the records that did not decode and the walks that failed.
fn health(model: &Arc<Mutex<Model>>, status: &Status) {
    let states = status.lock();
    let mut m = model.lock().unwrap_or_else(|p| p.into_inner());
    let Some(state) = states.get(&m.probe) else { return };
    m.errors.clear();
    match state {
        ProbeState::Failed(e) => {
            m.state = "stopped".into();
            m.errors.push(e.to_string());
        }
        ProbeState::Up(stats) => {
            for s in &stats.maps {
                let (d, w) = (s.decode_errors.get(), s.walk_errors.get());
                if d > 0 || w > 0 {
                    m.errors.push(format!("{}: {d} records did not decode, {w} walks failed", s.map));
                }
            }
            if let Some(n) = stats.lost.as_ref().map(|l| l.get()).filter(|n| *n > 0) {
                m.errors.push(format!("the kernel side lost {n} events (ring buffer full)"));
            }
        }
    }
}

/// Handles a key; true to quit.
fn key(ui: &mut Ui, k: KeyEvent, model: &Arc<Mutex<Model>>) -> bool {
    let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl_c {
        return true;
    }
    if let Some(text) = &mut ui.editing {
        match k.code {
            KeyCode::Enter => {
                let t = std::mem::take(text);
                ui.editing = None;
                if t.is_empty() {
                    ui.filter = None;
                    ui.message = None;
                } else {
                    match super::filter::regex(&t) {
                        Ok(re) => {
                            ui.filter = Some(re);
                            ui.message = Some(format!("filter: /{t}/"));
                        }
                        Err(e) => ui.message = Some(format!("invalid filter: {e}")),
                    }
                }
            }
            KeyCode::Esc => ui.editing = None,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => {}
        }
        return false;
    }
    let n = model.lock().unwrap_or_else(|p| p.into_inner()).maps.len().max(1);
    match k.code {
        KeyCode::Char('q') | KeyCode::Esc => return true,
        KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => ui.tab = (ui.tab + 1) % n,
        KeyCode::BackTab | KeyCode::Left | KeyCode::Char('h') => ui.tab = (ui.tab + n - 1) % n,
        KeyCode::Char(c @ '1'..='9') => ui.tab = (c as usize - '1' as usize).min(n - 1),
        KeyCode::Char('p') | KeyCode::Char(' ') => {
            ui.paused = match ui.paused {
                Some(_) => None,
                None => {
                    let mut maps = model.lock().unwrap_or_else(|p| p.into_inner()).maps.clone();
                    maps.iter_mut().for_each(MapView::materialize);
                    Some(maps)
                }
            }
        }
        KeyCode::Char('/') => ui.editing = Some(String::new()),
        _ => {}
    }
    false
}

fn draw(term: &mut Terminal<CrosstermBackend<Stdout>>, model: &Arc<Mutex<Model>>, ui: &Ui) -> Result<()> {
    let (probe, programs, state, errors, live) = {
        let m = model.lock().unwrap_or_else(|p| p.into_inner());
        // --program-stats: the programs' costs take the programs line
        let programs = m.costs.clone().unwrap_or_else(|| m.programs.join(", "));
        (m.probe.clone(), programs, m.state.clone(), m.errors.clone(), m.maps.clone())
    };
    let mut live = live;
    live.iter_mut().for_each(MapView::materialize);
    let maps = ui.paused.as_ref().unwrap_or(&live);
    term.draw(|f| {
        let area = f.area();
        if area.width < MIN.0 || area.height < MIN.1 {
            f.render_widget(
                Paragraph::new(format!(
                    "terminal too small: {}x{} (need {}x{})",
                    area.width, area.height, MIN.0, MIN.1
                )),
                area,
            );
            return;
        }
        let [head, tabs, body, foot] =
            Layout::vertical([Constraint::Length(3), Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)])
                .areas(area);
        let state = if ui.paused.is_some() { format!("{state}, paused") } else { state };
        let header = Paragraph::new(vec![
            Line::from(vec![
                Span::raw("bee run · probe ").dim(),
                Span::raw(probe).bold(),
                Span::raw(format!("  [{state}]")),
            ]),
            Line::from(vec![Span::raw("programs ").dim(), Span::raw(programs)]),
        ])
        .block(Block::default().borders(Borders::BOTTOM));
        f.render_widget(header, head);
        let titles: Vec<String> = maps.iter().enumerate().map(|(i, m)| format!("{} {}", i + 1, m.name)).collect();
        let tab = ui.tab.min(maps.len().saturating_sub(1));
        f.render_widget(
            Tabs::new(titles).select(tab).highlight_style(Style::default().add_modifier(Modifier::REVERSED)),
            tabs,
        );
        if let Some(m) = maps.get(tab) {
            pane(f, body, m, ui.filter.as_ref());
        }
        let footer = match (&ui.editing, errors.last(), &ui.message) {
            (Some(t), _, _) => format!("filter (regex, Enter to apply, empty to clear): {t}"),
            (None, Some(e), _) => format!("error: {e}"),
            (None, None, Some(msg)) => format!("{msg} · q quit · Tab switch · p pause · / filter"),
            _ => "q quit · Tab/←/→ switch map · p pause · / filter".to_string(),
        };
        f.render_widget(Paragraph::new(footer).dim(), foot);
    })
    .context("drawing")?;
    Ok(())
}

fn pane(f: &mut Frame<'_>, area: Rect, m: &MapView, filter: Option<&Regex>) {
    let kind = match (m.events, m.output) {
        (true, Output::Print) => "events",
        (false, Output::Print) => "entries",
        (_, out) => match out {
            Output::Counter => "counter",
            Output::Gauge => "gauge",
            _ => "histogram",
        },
    };
    let title = format!(" {} · {kind} · {} shown of {} read ", m.name, m.shown, m.records);
    let block = Block::default().borders(Borders::ALL).title(title);
    if m.output == Output::Hist {
        let inner = block.inner(area);
        f.render_widget(block, area);
        f.render_widget(Paragraph::new(hist_lines(m, inner.width, filter)), inner);
        return;
    }
    let counter = m.output == Output::Counter;
    let mut header: Vec<String> = m.columns.clone();
    if counter {
        header.push("rate/s".into());
    }
    let visible = area.height.saturating_sub(3) as usize;
    let rows: Vec<(usize, &Vec<String>)> =
        m.rows.iter().enumerate().filter(|(_, r)| filter.is_none_or(|re| r.iter().any(|c| re.is_match(c)))).collect();
    // events: the newest at the bottom; tables: from the top
    let skip = if m.events && m.output == Output::Print { rows.len().saturating_sub(visible) } else { 0 };
    let body: Vec<Row> = rows
        .iter()
        .skip(skip)
        .take(visible)
        .map(|(i, r)| {
            let mut cells: Vec<Cell> = r.iter().map(|c| Cell::from(c.clone())).collect();
            if counter {
                let rate = m.rates.get(*i).copied().flatten().map_or(String::new(), |x| format!("{x:.1}"));
                cells.push(Cell::from(rate));
            }
            Row::new(cells)
        })
        .collect();
    let widths: Vec<Constraint> = header.iter().map(|_| Constraint::Fill(1)).collect();
    let table =
        Table::new(body, widths).header(Row::new(header.into_iter().map(|h| Cell::from(h).bold()))).block(block);
    f.render_widget(table, area);
}

fn hist_lines(m: &MapView, width: u16, filter: Option<&Regex>) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (labels, bars) in &m.hists {
        if filter.is_some_and(|re| !re.is_match(labels)) {
            continue;
        }
        lines.push(Line::from(if labels.is_empty() { "(all)".to_string() } else { labels.clone() }).bold());
        let max = bars.iter().map(|(_, c)| *c).fold(0.0, f64::max).max(1.0);
        let room = width.saturating_sub(30) as f64;
        let first = bars.iter().position(|(_, c)| *c > 0.0).unwrap_or(0);
        for (bound, count) in bars.iter().skip(first) {
            let n = (count / max * room).round() as usize;
            lines.push(Line::from(format!("{bound:>14} {count:>10} {}", "█".repeat(n))));
        }
    }
    if lines.is_empty() {
        lines.push(Line::from("no data yet"));
    }
    lines
}
