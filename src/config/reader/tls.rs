//! Reading an endpoint's `tls` (files, ciphers, client certificates) and wssnode's `acme`.

use super::super::json::kind;
use super::super::*;
use super::Reader;

impl Reader<'_> {
    pub(in crate::config) fn tls(&self, key: &str, value: &Value) -> Result<TlsFiles, StartError> {
        let tls = self.obj(key, value)?;
        let file = |name: &'static str| -> Result<Option<NamedFile>, StartError> {
            Ok(tls
                .str(name)?
                .map(|named| self.resolve(&format!("{key}.{name}"), named)))
        };
        let files = |name: &'static str| -> Result<Vec<NamedFile>, StartError> {
            let mut out = Vec::new();
            for (i, item) in tls.array_or_empty(name)?.iter().enumerate() {
                let item_key = format!("{key}.{name}[{i}]");
                match item {
                    Value::String(named) => out.push(self.resolve(&item_key, named)),
                    other => {
                        return Err(self.error(
                            &item_key,
                            format!("must be a file path (string), not {}", kind(other)),
                        ))
                    }
                }
            }
            Ok(out)
        };
        let acme = match tls.get("acme") {
            Some(value) => Some(self.acme(&format!("{key}.acme"), value)?),
            None => None,
        };
        let (key_file, certificate_file) = match &acme {
            Some(acme) => {
                if tls.get("key").is_some() || tls.get("certificate").is_some() {
                    return Err(self.error(
                        &format!("{key}.acme"),
                        "give `acme` or `key` and `certificate`, not both",
                    ));
                }
                // The certificate lives in the cache; errors about it name the cache.
                (acme.cache.clone(), acme.cache.clone())
            }
            None => {
                let missing = |name: &str| {
                    tls.missing(
                        name,
                        "`tls` needs both `key` and `certificate` (PEM files), or `acme`",
                    )
                };
                (
                    file("key")?.ok_or_else(|| missing("key"))?,
                    file("certificate")?.ok_or_else(|| missing("certificate"))?,
                )
            }
        };
        let files = TlsFiles {
            config_file: self.report.file.to_path_buf(),
            json_path: key.to_string(),
            key: key_file,
            certificate: certificate_file,
            chain_certificates: files("chain_certificates")?,
            ca_certificates: files("ca_certificates")?,
            dhparam: file("dhparam")?,
            ciphers: tls.str("ciphers")?.map(str::to_string),
            acme,
        };
        tls.done();
        Ok(files)
    }

    /// A `tls.acme` section (wssnode's own keys).
    pub(in crate::config) fn acme(
        &self,
        key: &str,
        value: &Value,
    ) -> Result<AcmeSettings, StartError> {
        let acme = self.obj(key, value)?;
        let names = |name: &'static str| -> Result<Vec<String>, StartError> {
            let mut out = Vec::new();
            for (i, item) in acme.array_or_empty(name)?.iter().enumerate() {
                match item.as_str() {
                    Some(text) if !text.is_empty() => out.push(text.to_string()),
                    _ => {
                        return Err(
                            self.error(&format!("{key}.{name}[{i}]"), "must be a non-empty string")
                        )
                    }
                }
            }
            Ok(out)
        };
        let domains = names("domains")?;
        if domains.is_empty() {
            return Err(acme.missing(
                "domains",
                "name the domains the certificate is for, e.g. [\"example.com\"]",
            ));
        }
        let contact = names("contact")?;
        if let Some(bad) = contact.iter().find(|c| !c.starts_with("mailto:")) {
            return Err(self.error(
                &format!("{key}.contact"),
                format!("`{bad}` is not a `mailto:` address"),
            ));
        }
        let directory = acme.str("directory")?.unwrap_or(LETS_ENCRYPT).to_string();
        if !directory.starts_with("https://") {
            return Err(self.error(&format!("{key}.directory"), "must be an https:// URL (Let's Encrypt's is the default; staging is https://acme-staging-v02.api.letsencrypt.org/directory)"));
        }
        let cache = self.resolve(
            &format!("{key}.cache"),
            acme.str("cache")?.unwrap_or("acme"),
        );
        let http_01 = match acme.str("challenge")? {
            None | Some("tls-alpn-01") => false,
            Some("http-01") => true,
            Some(other) => {
                return Err(self.error(
                    &format!("{key}.challenge"),
                    format!("`{other}` is not a challenge wssnode answers: `tls-alpn-01` (the default) or `http-01`"),
                ))
            }
        };
        let mut directory_ca_certificates = Vec::new();
        for (i, item) in acme
            .array_or_empty("directory_ca_certificates")?
            .iter()
            .enumerate()
        {
            let item_key = format!("{key}.directory_ca_certificates[{i}]");
            let named = item
                .as_str()
                .ok_or_else(|| self.error(&item_key, "must be a PEM file path"))?;
            directory_ca_certificates.push(self.resolve(&item_key, named));
        }
        acme.done();
        Ok(AcmeSettings {
            json_path: key.to_string(),
            domains,
            contact,
            directory,
            cache,
            directory_ca_certificates,
            http_01,
        })
    }
}
