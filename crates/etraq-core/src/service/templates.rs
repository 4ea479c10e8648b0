//! Campaign templates: the built-in ones and the company's own, checked when added and
//! previewed for any subscriber. Custom templates live in the store's key-value space
//! (`template:NAME`); they are few and read whole.

use jiff::Timestamp;

use crate::access::Actor;
use crate::address::{EmailAddress, Party};
use crate::campaign::{
    CustomerFacts, MergeData, Named, Rendered, Renderer, SubscriberFields, Template,
    builtin_templates, check_template_name,
};
use crate::error::{Error, Result};
use crate::model::DrStatus;
use crate::service::App;
use crate::store::{DrQuery, MAX_PAGE_SIZE};

const PREFIX: &str = "template:";

fn key(name: &str) -> String {
    format!("{PREFIX}{}", name.trim().to_lowercase())
}

/// What `template preview` shows: the message a recipient would get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// The template.
    pub template: Template,
    /// Who it was rendered for (the address).
    pub to: String,
    /// Their name, possibly empty.
    pub to_name: String,
    /// The rendered parts.
    pub rendered: Rendered,
}

impl App {
    /// Every template: the built-in ones first, then the company's own by name.
    pub async fn templates(&self, _who: &Actor) -> Result<Vec<Template>> {
        let mut out = builtin_templates();
        let mut own = Vec::new();
        for (k, v) in self.store.kv_scan(PREFIX).await? {
            let t: Template = serde_json::from_str(&v).map_err(|e| {
                Error::Invalid(format!("the stored template {k} cannot be read: {e}"))
            })?;
            own.push(t);
        }
        own.sort_by_key(|a| a.name.to_lowercase());
        out.extend(own);
        Ok(out)
    }

    /// One template by name, any case.
    pub async fn template(&self, who: &Actor, name: &str) -> Result<Template> {
        let want = name.trim().to_lowercase();
        self.templates(who)
            .await?
            .into_iter()
            .find(|t| t.name.to_lowercase() == want)
            .ok_or_else(|| Error::NotFound {
                what: "template",
                key: name.to_string(),
            })
    }

    /// Adds or replaces one of the company's templates (supervisors). It must compile and name
    /// only known merge fields; built-in names are taken.
    pub async fn save_template(
        &self,
        who: &Actor,
        draft: Template,
        now: Timestamp,
    ) -> Result<Template> {
        who.require_supervisor()?;
        let name = check_template_name(&draft.name)?.to_string();
        if builtin_templates()
            .iter()
            .any(|b| b.name.eq_ignore_ascii_case(&name))
        {
            return Err(Error::InvalidField {
                field: "name",
                reason: format!("{name:?} is a built-in template, which cannot be changed"),
            });
        }
        if draft.subject.trim().is_empty() {
            return Err(Error::InvalidField {
                field: "subject",
                reason: "a template needs a subject".into(),
            });
        }
        let t = Template {
            name,
            builtin: false,
            created_at: now,
            ..draft
        };
        // It must compile, and render for a recipient with nothing known about them.
        if t.kind == crate::campaign::TemplateKind::Acknowledgement {
            crate::support::autoreply::AckRenderer::new(&t)?
                .render(&crate::support::autoreply::AckData::default())?;
        } else {
            Renderer::new(&t)?.render(&MergeData::default())?;
        }
        let json = serde_json::to_string(&t)
            .map_err(|e| Error::Internal(format!("cannot encode a template: {e}")))?;
        self.store.kv_put(&key(&t.name), Some(&json)).await?;
        Ok(t)
    }

    /// Deletes one of the company's templates (supervisors).
    pub async fn delete_template(&self, who: &Actor, name: &str) -> Result<()> {
        who.require_supervisor()?;
        let t = self.template(who, name).await?;
        if t.builtin {
            return Err(Error::InvalidField {
                field: "name",
                reason: format!(
                    "{:?} is a built-in template, which cannot be deleted",
                    t.name
                ),
            });
        }
        self.store.kv_put(&key(&t.name), None).await
    }

    /// What etraq knows of `email` as a customer, for the `customer.*` merge fields.
    pub async fn customer_facts(&self, email: &EmailAddress) -> Result<CustomerFacts> {
        let mut facts = CustomerFacts::default();
        let mut q = DrQuery {
            customer: Some(Party::Address(email.clone())),
            limit: MAX_PAGE_SIZE,
            ..DrQuery::default()
        };
        loop {
            let page = self.store.list_drs(&q).await?;
            for d in &page.items {
                facts.drs += 1;
                if d.status != DrStatus::Closed {
                    facts.open_drs += 1;
                }
                facts.last_seen = facts.last_seen.max(d.last_customer_at);
            }
            match page.next {
                Some(n) => q.after = Some(n),
                None => break,
            }
        }
        Ok(facts)
    }

    /// Renders a template for a subscriber (or, without one, for a sample recipient with no
    /// name and no attributes), as the campaign `campaign` would send it.
    pub async fn preview_template(
        &self,
        who: &Actor,
        name: &str,
        subscriber: Option<&EmailAddress>,
        campaign: Option<&str>,
    ) -> Result<Preview> {
        let template = self.template(who, name).await?;
        let renderer = Renderer::new(&template)?;
        let mut data = MergeData {
            campaign: Named {
                name: campaign.unwrap_or("Preview").to_string(),
            },
            unsubscribe_url: "https://example.invalid/u/preview".into(),
            view_in_browser_url: "https://example.invalid/v/preview".into(),
            ..MergeData::default()
        };
        let to = match subscriber {
            Some(email) => {
                let d = self.subscriber(who, email).await?;
                data.subscriber = SubscriberFields {
                    email: d.subscriber.email.to_string(),
                    name: d.subscriber.name.clone(),
                    attribs: d.subscriber.attribs.clone(),
                    score: d.score,
                };
                if let Some(m) = d.subscriber.lists.values().next() {
                    data.list.name = m.list.clone();
                }
                data.customer = self.customer_facts(email).await?;
                email.to_string()
            }
            None => {
                data.subscriber.email = "subscriber@example.invalid".into();
                data.subscriber.email.clone()
            }
        };
        let rendered = renderer.render(&data)?;
        Ok(Preview {
            template,
            to,
            to_name: data.subscriber.name.clone(),
            rendered,
        })
    }
}
