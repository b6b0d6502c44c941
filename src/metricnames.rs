//! Metric names of watched maps are unique: a `name` (or `unit`) set in
//! `[probes.NAME.maps.MAP]` may not give a map the family name of another
//! map. The same map of two probes (two instances of one object) may share
//! a name, as bumblebee's default names do: `probe` tells them apart.

use std::collections::BTreeMap;

use bee_metrics::shaping;
use bee_metrics::MapSettings;

/// Family name → the first (probe, map) that has it.
#[derive(Debug, Clone, Default)]
pub struct MetricNames(BTreeMap<String, (String, String)>);

impl MetricNames {
    /// Adds map `map` of probe `probe`: an error if another map has its name.
    pub fn add(&mut self, probe: &str, map: &str, cfg: &MapSettings) -> Result<(), String> {
        let name = shaping::family_name(map, cfg);
        match self.0.get(&name) {
            Some((p, m)) if m != map || p == probe => Err(format!(
                "probes.{probe}.maps.{map}: metric name `{name}` is already used by map `{m}` of probe `{p}`; set another `name`"
            )),
            Some(_) => Ok(()),
            None => {
                self.0.insert(name, (probe.to_string(), map.to_string()));
                Ok(())
            }
        }
    }

    /// Adds the maps of `probe` whose configuration names them (`name` or
    /// `unit`); `beed --check-config` adds every watched metric map, once
    /// it has read the objects.
    pub fn add_named(&mut self, probe: &str, maps: &BTreeMap<String, MapSettings>) -> Result<(), String> {
        maps.iter().filter(|(_, c)| c.name.is_some() || c.unit.is_some()).try_for_each(|(m, c)| self.add(probe, m, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(n: &str) -> MapSettings {
        MapSettings { name: Some(n.into()), ..MapSettings::default() }
    }

    #[test]
    fn names_are_unique_across_maps_and_probes() {
        let mut n = MetricNames::default();
        assert_eq!(n.add("a", "hist_lat", &named("lat_seconds")), Ok(()));
        // the same map of another probe may share it
        assert_eq!(n.add("b", "hist_lat", &named("lat_seconds")), Ok(()));
        assert_eq!(
            n.add("b", "hist_other", &named("lat_seconds")),
            Err("probes.b.maps.hist_other: metric name `lat_seconds` is already used by map `hist_lat` of probe `a`; set another `name`".into())
        );
        // a name taking another map's default name
        assert_eq!(n.add("a", "counter_x", &MapSettings::default()), Ok(()));
        assert!(n.add("c", "counter_y", &named("ebpf_solo_io_counter_x")).is_err());
        // a unit suffix counts
        let unit = MapSettings { unit: Some("seconds".into()), name: Some("lat".into()), ..MapSettings::default() };
        assert!(n.add("d", "hist_z", &unit).is_err_and(|e| e.contains("`lat_seconds`")));
    }
}
