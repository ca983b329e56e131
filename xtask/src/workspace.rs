//! The workspace as cargo sees it (`cargo metadata --no-deps`): its packages, their targets and
//! the target directory, so commands discover test targets instead of listing them by hand.

use std::path::PathBuf;

use crate::json::{self, Value};
use crate::util::{self, Result};

/// The workspace members and where their builds go.
#[derive(Debug)]
pub(crate) struct Workspace {
    /// Cargo's target directory, with `CARGO_TARGET_DIR` and `.cargo/config.toml` applied.
    pub(crate) target_directory: PathBuf,
    pub(crate) packages: Vec<Package>,
}

/// One workspace member.
#[derive(Debug)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) targets: Vec<Target>,
}

/// One build target of a package (lib, bin, test, example, bench).
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) kinds: Vec<String>,
    pub(crate) src_path: PathBuf,
    /// Features the target needs (`required-features`), to be passed with `--features`.
    pub(crate) required_features: Vec<String>,
}

impl Target {
    /// Whether this is an integration test target (`tests/*.rs` or a `[[test]]` section).
    pub(crate) fn is_test(&self) -> bool {
        self.kinds.iter().any(|kind| kind == "test")
    }
}

impl Workspace {
    /// Asks cargo. Needs no network: `--no-deps` resolves no dependency.
    pub(crate) fn load() -> Result<Self> {
        let mut cmd = util::cargo();
        cmd.args(["metadata", "--no-deps", "--format-version", "1"]);
        let output = cmd
            .output()
            .map_err(|error| format!("cannot start `{}`: {error}", util::display(&cmd)))?;
        if !output.status.success() {
            return Err(format!(
                "`{}` failed ({}):\n{}",
                util::display(&cmd),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let text = String::from_utf8(output.stdout)?;
        Self::from_metadata(&json::parse(&text)?)
    }

    fn from_metadata(metadata: &Value) -> Result<Self> {
        let target_directory = metadata
            .get("target_directory")
            .and_then(Value::as_str)
            .ok_or("cargo metadata has no target_directory")?
            .into();
        let packages = metadata
            .get("packages")
            .ok_or("cargo metadata has no packages")?
            .items()
            .iter()
            .map(|package| Package {
                name: text(package, "name"),
                targets: package
                    .get("targets")
                    .map(Value::items)
                    .unwrap_or_default()
                    .iter()
                    .map(|target| Target {
                        name: text(target, "name"),
                        kinds: target.get("kind").map(Value::strings).unwrap_or_default(),
                        src_path: text(target, "src_path").into(),
                        required_features: target
                            .get("required-features")
                            .map(Value::strings)
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        Ok(Self {
            target_directory,
            packages,
        })
    }

    /// Every integration test target whose name starts with `prefix`, with its package, in
    /// workspace order.
    pub(crate) fn test_targets(&self, prefix: &str) -> Vec<(&Package, &Target)> {
        self.packages
            .iter()
            .flat_map(|package| package.targets.iter().map(move |target| (package, target)))
            .filter(|(_, target)| target.is_test() && target.name.starts_with(prefix))
            .collect()
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_targets_by_prefix_with_their_features() {
        let metadata = json::parse(
            r#"{"target_directory":"/w/target","packages":[
              {"name":"concurrent-futures-core","targets":[{"name":"concurrent_futures_core","kind":["lib"],"src_path":"/w/executor-core/src/lib.rs"}]},
              {"name":"concurrent-futures-threads","targets":[
                {"name":"concurrent_futures_threads","kind":["lib"],"src_path":"/w/executor-threads/src/lib.rs"},
                {"name":"conformance","kind":["test"],"src_path":"/w/executor-threads/tests/conformance.rs"},
                {"name":"conformance_rayon","kind":["test"],"required-features":["rayon"],"src_path":"/w/executor-threads/tests/conformance_rayon.rs"},
                {"name":"loom_queue","kind":["test"],"src_path":"/w/executor-threads/tests/loom_queue.rs"},
                {"name":"conformance","kind":["example"],"src_path":"/w/executor-threads/examples/conformance.rs"}]}]}"#,
        )
        .unwrap();
        let workspace = Workspace::from_metadata(&metadata).unwrap();
        assert_eq!(workspace.target_directory, PathBuf::from("/w/target"));
        let found: Vec<_> = workspace
            .test_targets("conformance")
            .into_iter()
            .map(|(package, target)| {
                (
                    package.name.as_str(),
                    target.name.as_str(),
                    target.required_features.clone(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("concurrent-futures-threads", "conformance", vec![]),
                (
                    "concurrent-futures-threads",
                    "conformance_rayon",
                    vec!["rayon".to_owned()]
                ),
            ]
        );
        assert_eq!(workspace.test_targets("loom").len(), 1);
    }
}
